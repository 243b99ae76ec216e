"""The exact unsigned distance computed by forked child processes while the caller goes on with other work
(the signed distance's set-up, then the signs of the points already done), for a worker that owns more
than one core.

libigl's calls hold Python's GIL, so a thread cannot run numpy beside them; a forked child can. Children
share the parent's memory copy-on-write (nothing pickled, nothing imported again). Each builds its own AABB
tree and takes batches of points from a queue (a pipe filled before the fork) until it is empty, writing the
results into an anonymous shared mapping (40 bytes per point) and the batch's number into a second pipe
when done. Batches are under the 10,000 points from which libigl runs a call on several threads, so each
child is one thread and the queue balances them: libigl's own threads each get an equal share of a call, and
one slowed by the parent's work would leave a core idle at the call's end. Where a child fails (killed, out
of memory), its batches are missing when the pipe closes and the caller computes those itself. Linux only:
there is no fork on Windows, and forking without exec is unsafe on macOS.
"""
import mmap
import os
import signal
import sys
import threading
import warnings
import weakref

import igl
import numpy as np

# Children run below the parent in priority: the parent's set-up runs at full speed on its core and the
# children take what it leaves (and every core once the parent waits). 19, the lowest: beside the parent's
# core split (CoreSplit) the children share the other cores with the crossed-faces child (forked_call, at the
# parent's priority), which then gets them almost whole and is done before the parent needs it.
CHILD_NICENESS = 19
# Points per batch: under libigl's 10,000, so that each call runs on the child's own thread.
BATCH = 8192


def igl_threads():
    """How many threads libigl's parallel loops use: IGL_NUM_THREADS, else every core."""
    try:
        n = int(os.environ.get("IGL_NUM_THREADS", "0"))
    except ValueError:
        n = 0
    return n if n > 0 else (os.cpu_count() or 1)


def can_fork():
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def aabb_query(V, F):
    """libigl's exact squared distance to (V, F) through an AABB tree built here: a function of query points
    q (m x 3) returning (sq (m,), face (m,), closest (m, 3))."""
    tree = igl.AABB()
    tree.init(V, F)
    return lambda q: tree.squared_distance(V, F, q)


def fork_child():
    """os.fork(), without the warning Python 3.12+ gives on a fork while other threads exist (BLAS, a progress
    bar's monitor): the children forked here only run libigl, Embree and numpy, and exit without running any
    Python clean-up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _current_cpu():
    """The core this thread runs on now (/proc/thread-self/stat's field 39), or None where unknown."""
    try:
        with open("/proc/thread-self/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None


class CoreSplit:
    """The caller's thread held on the core it runs on and its forked children on the others, from construction
    until end(), which gives every one of them back the caller's cores (its affinity mask as it was).

    Where the caller's set-up and its children would otherwise share every core, the scheduler puts a child
    beside the caller now and then (160 preemptions in a 3 s set-up on the embedded table_001, two cores), and
    the caller's numpy work, the critical path, runs 20-25% slower than alone for the caches it loses. end() is
    called where the caller would first wait for a child (then the children take every core), when the children
    are stopped, and at the end of the work that started them. Nothing is held where the caller owns one core.
    """

    def __init__(self):
        self.active = False
        self.pids = []
        try:
            self.mask = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            return
        own = _current_cpu()
        if own not in self.mask or len(self.mask) < 2:
            return
        self.tid = threading.get_native_id()
        self.rest = self.mask - {own}
        try:
            os.sched_setaffinity(0, {own})
        except OSError:
            return
        self.active = True

    def child(self):
        """In a child just forked: keep off the caller's core while the split lasts."""
        if self.active:
            try:
                os.sched_setaffinity(0, self.rest)
            except OSError:  # (cores taken away meanwhile) the child runs where the scheduler puts it
                pass

    def forked(self, pid):
        """In the caller: pid is a child to give every core back to at end()."""
        self.pids.append(pid)

    def end(self):
        """Every core back to the caller's thread and the children (once; a child gone is passed over)."""
        if not self.active:
            return
        self.active = False
        for tid in [self.tid] + self.pids:
            try:
                os.sched_setaffinity(tid, self.mask)
            except OSError:
                pass


def reap_children(state):
    """Kill and wait for the children (state["pids"]) not waited for yet; close state["pipe"]; end the core
    split, if any (state["cores"])."""
    if state.get("cores") is not None:
        state["cores"].end()
    for pid in state["pids"]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    state["pids"] = []
    if state["pipe"] is not None:
        os.close(state["pipe"])
        state["pipe"] = None


class BackgroundDistance:
    """The exact distance from Q to (V, F), started in `workers` forked children at construction.

    wait_for(start, end) waits until points start..end are done and returns the (sq, face, closest) arrays
    of all points (views of the shared block; only the batches reported done are filled), or None where a
    child failed on one of them. compute: the function each child runs to get its query function
    (aabb_query; tests pass others). V, F, Q must not change until the children are done: they read them as
    they were at the fork. cores: a CoreSplit that the children join (kept off the caller's core until the
    caller first waits for them), or None.
    """

    def __init__(self, V, F, Q, compute=aabb_query, workers=None, batch=BATCH, cores=None):
        n = len(Q)
        self.n, self.batch = n, batch
        self._buf = mmap.mmap(-1, max(40 * n, 1))  # sq (n float64), face (n int64), closest (n x 3 float64)
        units = -(-n // batch)  # batch b holds points b * batch .. (b + 1) * batch
        self.is_done = np.zeros(units, dtype=bool)
        # each child builds its own tree (0.17 s at 280k faces, a few batches' work): at least 4 batches each
        workers = max(1, min(workers or min(igl_threads(), units // 4), units))
        if 4 * units > 65536:
            raise ValueError(f"{n} points make {units} batches: more than a pipe holds (16,384)")
        todo_r, todo_w = os.pipe()
        os.write(todo_w, np.arange(units, dtype="<i4").tobytes())  # the queue, whole before any child reads
        os.close(todo_w)
        done_r, done_w = os.pipe()
        pids = []
        for _ in range(workers):
            pid = fork_child()
            if pid == 0:
                self._child(V, F, Q, compute, todo_r, done_r, done_w, cores)
            pids.append(pid)
            if cores is not None:
                cores.forked(pid)
        os.close(todo_r)
        os.close(done_w)  # the children hold it: the pipe ends when the last of them exits
        self._state = {"pids": pids, "pipe": done_r, "cores": cores}
        self._finalizer = weakref.finalize(self, reap_children, self._state)
        self._pending = b""

    def _child(self, V, F, Q, compute, todo_r, done_r, done_w, cores):
        code = 1
        try:
            os.close(done_r)
            os.nice(CHILD_NICENESS)
            if cores is not None:
                cores.child()
            query = compute(V, F)
            sq, face, closest = self.arrays()
            while True:
                b = os.read(todo_r, 4)  # one batch number (a read of a pipe is never shared between readers)
                if len(b) < 4:
                    break
                s = int.from_bytes(b, "little") * self.batch
                e = min(s + self.batch, self.n)
                sq[s:e], face[s:e], closest[s:e] = query(Q[s:e])
                os.write(done_w, b)  # a system call: the writes above are visible before the parent reads it
            code = 0
        finally:
            os._exit(code)

    def arrays(self):
        n = self.n
        return (np.frombuffer(self._buf, dtype=np.float64, count=n),
                np.frombuffer(self._buf, dtype=np.int64, count=n, offset=8 * n),
                np.frombuffer(self._buf, dtype=np.float64, count=3 * n, offset=16 * n).reshape(n, 3))

    def wait_for(self, start, end):
        """Block until points start..end are done: the arrays (see the class), or None if the children ended
        without doing them all (a failure, or cancel())."""
        need = self.is_done[start // self.batch : -(-end // self.batch)]
        while not need.all():
            if self._state["pipe"] is None:
                return None
            if self._state["cores"] is not None:  # about to wait: every core to the children
                self._state["cores"].end()
            got = self._pending + os.read(self._state["pipe"], 4096)
            if not got:  # every child has exited
                self.cancel()
                return None
            whole = len(got) // 4 * 4
            self.is_done[np.frombuffer(got[:whole], dtype="<i4")] = True
            self._pending = got[whole:]
        if self.is_done.all():  # the children have nothing left but to exit
            self.cancel()
        return self.arrays()

    def result(self):
        """wait_for(every point)."""
        return self.wait_for(0, self.n)

    def cancel(self):
        """Stop the children that still run, wait for them and close the pipe."""
        reap_children(self._state)
