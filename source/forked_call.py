"""One call computed by a forked child while the caller goes on, for a worker that owns more than one core: the
signed distance's set-up is numpy and libigl calls that hold Python's GIL, so a thread cannot run beside it; a
forked child can (as forked_distance's children do for the distance).

The child shares the caller's memory copy-on-write (the trees built before the fork are the caller's, nothing
is pickled on the way in), runs at the caller's priority (its result is on the caller's path, unlike the
niced distance children's, which are done before the caller needs them) and sends the result back pickled
through a pipe. Where the child fails (killed, out of memory, an exception), result() computes it in the
caller, so an error surfaces as it would without the child. Linux only, like forked_distance.
"""
import os
import pickle
import signal
import warnings
import weakref


def _write_all(fd, data):
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]


def _read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _reap(state):
    """Kill and wait for the child if not waited for yet; close the pipe."""
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
    if state["pipe"] is not None:
        os.close(state["pipe"])
        state["pipe"] = None


class BackgroundCall:
    """fn() (no arguments, a picklable result) started in a forked child at construction; result() waits for
    it. fn must read only what does not change until then: the child sees the caller's memory as it was at
    the fork."""

    def __init__(self, fn):
        self.fn = fn
        r, w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns on fork while other threads exist: the child only runs numpy and libigl, and
            # exits without running any Python clean-up
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                _write_all(w, len(data).to_bytes(8, "little") + data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        self._state = {"pid": pid, "pipe": r}
        self._finalizer = weakref.finalize(self, _reap, self._state)

    def result(self):
        """fn()'s value, from the child, or computed here where the child failed."""
        state = self._state
        if state["pid"] is None:
            return self.fn()  # cancelled
        data = _read_all(state["pipe"])  # until the child closes it: done or dead
        _, status = os.waitpid(state["pid"], 0)
        state["pid"] = None
        _reap(state)
        if status == 0 and len(data) >= 8 and int.from_bytes(data[:8], "little") == len(data) - 8:
            return pickle.loads(data[8:])
        return self.fn()

    def cancel(self):
        """Stop the child, if it still runs."""
        _reap(self._state)
