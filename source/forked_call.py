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
import select
import weakref

from .forked_distance import fork_child, reap_children


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


class BackgroundCall:
    """fn() (no arguments, a picklable result) started in a forked child at construction; result() waits for
    it. fn must read only what does not change until then: the child sees the caller's memory as it was at
    the fork. cores: a forked_distance.CoreSplit that the child joins (kept off the caller's core), ended
    where result() would wait for the child, or None."""

    def __init__(self, fn, cores=None):
        self.fn = fn
        self.cores = cores
        r, w = os.pipe()
        pid = fork_child()
        if pid == 0:
            code = 1
            try:
                os.close(r)
                if cores is not None:
                    cores.child()
                data = pickle.dumps(fn(), protocol=pickle.HIGHEST_PROTOCOL)
                _write_all(w, len(data).to_bytes(8, "little") + data)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        if cores is not None:
            cores.forked(pid)
        self._state = {"pids": [pid], "pipe": r}
        self._finalizer = weakref.finalize(self, reap_children, self._state)

    def result(self):
        """fn()'s value, from the child, or computed here where the child failed."""
        state = self._state
        if not state["pids"]:
            return self.fn()  # cancelled
        if self.cores is not None and not select.select([state["pipe"]], [], [], 0)[0]:
            self.cores.end()  # about to wait: every core to the children
        data = _read_all(state["pipe"])  # until the child closes it: done or dead
        _, status = os.waitpid(state["pids"].pop(), 0)
        reap_children(state)  # the pipe closed
        if status == 0 and len(data) >= 8 and int.from_bytes(data[:8], "little") == len(data) - 8:
            return pickle.loads(data[8:])
        return self.fn()

    def cancel(self):
        """Stop the child, if it still runs."""
        reap_children(self._state)
