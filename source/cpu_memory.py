"""Keep freed memory in the process instead of handing it back to the OS after every step (glibc only).

PyTorch's CPU allocator has no cache: each activation of a training step is a fresh malloc of 0.1-2 MB,
which glibc serves with mmap and gives back on free, so every step page-faults all its activations in
again (about 3,200 faults and a third of a CPU step in the kernel for the light presets). Raising the mmap
threshold to its maximum and never trimming the heap makes the next step reuse the same pages. Peak
memory is unchanged; memory freed at the peak stays with the process until it exits.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit systems

_done = False


def keep_freed_memory():
    """Set glibc's malloc to reuse freed blocks (see the module docstring). Returns True when it applied:
    False on a C library without mallopt (macOS, Windows, musl), where nothing changes."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    ok = mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1 and ok
    _done = ok
    return ok
