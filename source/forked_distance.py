"""The exact unsigned distance computed in a forked child process while the caller goes on with other work
(the signed distance's set-up), for a worker that owns more than one core.

libigl's calls hold Python's GIL, so a thread cannot run numpy beside them; a forked child can. It shares
the parent's memory copy-on-write (nothing pickled, nothing imported again), builds its own AABB tree,
writes the results into an anonymous shared mapping (40 bytes per point) and exits. Where the child fails
(killed, out of memory), the result is None and the caller computes the distance itself. Linux only: there
is no fork on Windows, and forking without exec is unsafe on macOS.
"""
import mmap
import os
import signal
import sys
import warnings
import weakref

import igl
import numpy as np


CHILD_NICENESS = 5


def igl_threads():
    """How many threads libigl's parallel loops use: IGL_NUM_THREADS, else every core."""
    try:
        n = int(os.environ.get("IGL_NUM_THREADS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else (os.cpu_count() or 1)


def can_fork():
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def squared_distance(V, F, Q):
    """libigl's exact squared distance from Q (n x 3) to (V, F) through an AABB tree built here: (sq (n,),
    face (n,), closest (n, 3))."""
    tree = igl.AABB()
    tree.init(V, F)
    return tree.squared_distance(V, F, Q)


def _reap(state):
    """Kill and wait for the child unless it has been waited for already."""
    if state["pid"] is not None:
        try:
            os.kill(state["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(state["pid"], 0)
        except ChildProcessError:
            pass
        state["pid"] = None


class BackgroundDistance:
    """squared_distance(V, F, Q) started in a forked child at construction; result() waits for it.

    compute: the function the child runs (squared_distance; tests pass others). V, F, Q must not change
    until result() returns: the child reads them as they were at the fork.
    """

    def __init__(self, V, F, Q, compute=squared_distance):
        n = len(Q)
        self.n = n
        # one shared block: squared distance (n float64), face (n int64), closest point (n x 3 float64)
        self._buf = mmap.mmap(-1, max(40 * n, 1))
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork while other threads exist (BLAS, a progress bar's monitor): the
            # child only runs libigl and numpy copies, and exits without running any Python clean-up
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                # below the parent in priority: the parent's set-up (one core) runs at full speed, the
                # child's libigl threads take what it leaves, then every core once the parent waits
                os.nice(CHILD_NICENESS)
                sq, face, closest = compute(V, F, Q)
                self._arrays()[0][:] = sq
                self._arrays()[1][:] = face
                self._arrays()[2][:] = closest
                code = 0
            finally:
                os._exit(code)
        self._state = {"pid": pid}
        self._finalizer = weakref.finalize(self, _reap, self._state)

    def _arrays(self):
        n = self.n
        return (np.frombuffer(self._buf, dtype=np.float64, count=n),
                np.frombuffer(self._buf, dtype=np.int64, count=n, offset=8 * n),
                np.frombuffer(self._buf, dtype=np.float64, count=3 * n, offset=16 * n).reshape(n, 3))

    def result(self):
        """(sq, face, closest) as squared_distance gives them, once the child is done; None where it failed.
        The arrays are views of the shared block."""
        pid, self._state["pid"] = self._state["pid"], None
        if pid is None:
            return None
        _, status = os.waitpid(pid, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            return None
        return self._arrays()

    def cancel(self):
        """Stop the child (if it still runs) and wait for it."""
        _reap(self._state)
