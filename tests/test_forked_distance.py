"""The distance computed in a forked child while the sign is set up (SignedDistance(queries=...)): the same
result bit for bit as the distance computed in the process, a fallback where the child fails, and no child
left behind."""
import functools
import os

import numpy as np
import pytest
import trimesh

import source.forked_distance as forked_distance
import source.signed_distance as signed_distance
from source.forked_call import BackgroundCall
from source.forked_distance import BackgroundDistance, aabb_query
from source.signed_distance import SignedDistance


def _crossing_boxes_with_flips():
    """Two overlapping boxes, one inside out and with single faces turned over (the repair flips them, so
    the distance's faces and the sign's differ in winding), and a twin pair (kept: under the share that
    drop_twin_faces removes)."""
    a = trimesh.creation.box(extents=(0.8, 0.3, 0.3)).subdivide_to_size(0.1)
    b = trimesh.creation.box(extents=(0.3, 0.8, 0.3)).subdivide_to_size(0.1)
    b.apply_translation(SHIFT)  # so that no vertex of one lies on the other
    b.invert()
    m = trimesh.util.concatenate([a, b])
    F = np.asarray(m.faces).copy()
    F[::7] = F[::7, ::-1]
    F = np.concatenate([F, F[:1, ::-1]])
    return np.asarray(m.vertices), F


SHIFT = np.array([0.013, 0.021, 0.017])


def _queries(n=70_000, seed=0):
    return np.random.default_rng(seed).uniform(-0.7, 0.7, size=(n, 3))


def _threads(monkeypatch, n):
    """As if libigl had n threads (the choice to fork, and how many children, read it). Not through
    IGL_NUM_THREADS: libigl reads that once per process, and it would stay for the tests after these."""
    monkeypatch.setattr(signed_distance, "igl_threads", lambda: n)
    monkeypatch.setattr(forked_distance, "igl_threads", lambda: n)


def _child_gone(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_forked_distance_equals_in_process(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries()
    _threads(monkeypatch, 1)
    serial = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert serial._prefetch is None  # one thread: no child
    expected = serial(Q)
    _threads(monkeypatch, 2)
    # tier 3 in small batches beside the children (PREFETCH_TIER3_BATCH): several calls, the same result
    monkeypatch.setattr(signed_distance, "PREFETCH_TIER3_BATCH", 2_000)
    flushes = []
    continued = SignedDistance.continued_winding_number
    monkeypatch.setattr(SignedDistance, "continued_winding_number",
                        lambda self, *a, **kw: flushes.append(len(a[0])) or continued(self, *a, **kw))
    for labels in (True, False):
        S = SignedDistance(V, F, queries_hint=10**6, face_labels=labels, queries=Q)
        assert S._prefetch is not None
        assert (S.F != S._F_dist).any()  # the repair turned faces over after the fork
        pids = list(S._prefetch._state["pids"])
        out = S(Q)
        assert len(pids) == 2 and all(_child_gone(p) for p in pids)
        np.testing.assert_array_equal(out, expected if labels else SignedDistance(V, F, face_labels=False)(Q))
        if labels:
            assert len(flushes) > 1 and sum(flushes) == round(S.last_fallback * len(Q))
    # and the children's raw result (9 batches, on 1, 2 and 3 children) is libigl's in one call in this
    # process (on several threads: over 10,000 points), bit for bit
    for workers in (1, 2, 3):
        bg = BackgroundDistance(V, F, Q, workers=workers)
        assert len(bg.is_done) == 9 and len(bg._state["pids"]) == workers
        for x, y in zip(bg.result(), aabb_query(V, F)(Q)):
            np.testing.assert_array_equal(x, y)
    # the sign is right: the union of the two boxes (one stored inside out) is inside
    inside = ((np.abs(Q) < [0.4, 0.15, 0.15]).all(1) | (np.abs(Q - SHIFT) < [0.15, 0.4, 0.15]).all(1))
    far = np.abs(expected) > 1e-6
    np.testing.assert_array_equal((expected < 0)[far], inside[far])


def _long_faces_and_crossing_parts():
    """A box of 12 long faces (cut for libigl's tree) crossed by a bar, turned inside out, with single faces
    turned over (the repair flips them after the fork), beside a finely cut sphere."""
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.6))
    bar = trimesh.creation.box(extents=(0.2, 0.9, 0.2)).subdivide_to_size(0.1)
    bar.apply_translation(SHIFT)
    bar.invert()
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.15)
    ball.apply_translation([0.7, 0.0, 0.0])
    m = trimesh.util.concatenate([box, bar, ball])
    F = np.asarray(m.faces).copy()
    F[::5] = F[::5, ::-1]
    return np.asarray(m.vertices), F


def test_children_share_the_cut_faces_tree_and_find_the_crossed_faces(monkeypatch):
    """Where long faces were cut, libigl's tree on them is built once before the fork: the distance children
    query it and the ray casts walk it (one build instead of one per child), and a child computes the faces
    that edges cross from the faces as the file winds them, beside the orientation repair: the same result bit
    for bit. Where that child fails, the parent computes them; where the labels are not used, it is stopped."""
    V, F = _long_faces_and_crossing_parts()
    Q = _queries(40_000, seed=3)
    _threads(monkeypatch, 1)
    serial = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert serial._prefetch is None and serial._cut_tree is None and serial._crossed_bg is None
    assert serial._crossed.any()  # the bar crosses the box
    expected = serial(Q)
    _threads(monkeypatch, 2)
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert len(S._F_cut) > len(F) and S._prefetch is not None
    assert S._cut_tree is not None and S.rays.tree is S._cut_tree
    assert S._crossed_bg is None and (S.F != S._F_dist).any()  # used (before the labels), after the fork: turned
    np.testing.assert_array_equal(S._crossed, serial._crossed)
    np.testing.assert_array_equal(S(Q), expected)
    assert S._prefetch is None  # used: the children are gone
    # the child killed before its result: computed here, the same
    started = []
    monkeypatch.setattr(signed_distance, "BackgroundCall",
                        lambda fn, cores=None: started.append(BackgroundCall(fn, cores)) or os.kill(started[-1]._state["pids"][0], 9)
                        or started[-1])
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert len(started) == 1
    np.testing.assert_array_equal(S._crossed, serial._crossed)
    np.testing.assert_array_equal(S(Q), expected)
    # w at every query (the labels would not pay off): the child is stopped at once, none left
    monkeypatch.setattr(signed_distance, "labels_pay_off", lambda *args: False)
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert len(started) == 2 and S._crossed_bg is None and started[-1]._state["pids"] == []
    assert not S.use_labels
    S.close()


def test_background_call():
    """A call in a forked child: its result, the call made here where the child fails, and no child left."""
    x = np.arange(100_000)  # a result larger than a pipe holds
    bg = BackgroundCall(lambda: x * 2)
    pid = bg._state["pids"][0]
    np.testing.assert_array_equal(bg.result(), x * 2)
    assert _child_gone(pid)
    parent = os.getpid()

    def raises():  # fails in the child, works here
        if os.getpid() != parent:
            raise MemoryError("no memory in the child")
        return "here"

    def dies():  # the child killed
        if os.getpid() != parent:
            os._exit(3)
        return "here"
    assert BackgroundCall(raises).result() == "here" and BackgroundCall(dies).result() == "here"
    with pytest.raises(ValueError, match="in the caller too"):  # an error of the call itself surfaces here
        BackgroundCall(lambda: int("in the caller too")).result()
    bg = BackgroundCall(lambda: x)
    pid = bg._state["pids"][0]
    bg.cancel()
    assert _child_gone(pid) and bg._state["pids"] == []
    bg = BackgroundCall(lambda: x)
    pid = bg._state["pids"][0]
    del bg  # dropped without result(): reaped by its finalizer
    assert _child_gone(pid)


def _crash(V, F):
    os._exit(3)


def _raise(V, F):
    raise MemoryError("no memory in the child")


def _crash_after_first_batch(V, F):
    query, calls = aabb_query(V, F), []

    def once(q):
        calls.append(1)
        if len(calls) > 1:
            os._exit(3)
        return query(q)
    return once


def test_failed_child_falls_back(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries(25_000, seed=1)  # four batches
    for bad in (_crash, _raise):
        assert BackgroundDistance(V, F, Q, compute=bad).result() is None
    # each of two children does one batch and dies on its next: batch 0 is always done (the first taken)
    bg = BackgroundDistance(V, F, Q, compute=_crash_after_first_batch, workers=2, batch=5_000)
    assert bg.wait_for(0, 5_000) is not None and bg.wait_for(0, len(Q)) is None
    assert bg.is_done.sum() == 2
    _threads(monkeypatch, 2)
    expected = SignedDistance(V, F, queries_hint=10**6)(Q)
    for bad in (_crash, _crash_after_first_batch):
        monkeypatch.setattr(signed_distance, "BackgroundDistance", functools.partial(BackgroundDistance, compute=bad))
        S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
        assert S._prefetch is not None
        np.testing.assert_array_equal(S(Q, chunk=1_000), expected)  # the chunks after the failure computed here


def test_other_queries_and_close_leave_no_child(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries(5_000, seed=2)
    _threads(monkeypatch, 2)
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    pids = list(S._prefetch._state["pids"])
    other = Q + 0.01  # not the queries given: the child is stopped and the distance computed here
    np.testing.assert_array_equal(S(other), SignedDistance(V, F, queries_hint=10**6)(other))
    assert all(_child_gone(p) for p in pids) and S._prefetch is None
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    pids = list(S._prefetch._state["pids"])
    S.close()  # e.g. the sampler rejecting the mesh as open
    assert all(_child_gone(p) for p in pids)
    np.testing.assert_array_equal(S(Q), SignedDistance(V, F, queries_hint=10**6)(Q))  # still answers
    bg = BackgroundDistance(V, F, Q)
    pids = list(bg._state["pids"])
    del bg  # dropped without result(): reaped by its finalizer
    assert all(_child_gone(p) for p in pids)


def test_core_split_holds_the_caller_and_the_children_apart_until_it_ends(monkeypatch):
    """CoreSplit: this thread on one core and a child on the others, both given every core back by end(); and
    SignedDistance(queries=...) giving them back by the end of its call, or at close()."""
    mask = os.sched_getaffinity(0)
    cores = forked_distance.CoreSplit()
    assert cores.active == (len(mask) > 1)
    own = os.sched_getaffinity(0)
    assert own == mask if len(mask) == 1 else (len(own) == 1 and own < mask)
    r, w = os.pipe()
    pid = forked_distance.fork_child()
    if pid == 0:  # the child: joins the split, says so, waits to be killed
        cores.child()
        os.write(w, b"1")
        os.pause()
        os._exit(0)
    cores.forked(pid)
    try:
        assert os.read(r, 1) == b"1"
        assert os.sched_getaffinity(pid) == (mask - own if cores.active else mask)
        cores.end()
        assert os.sched_getaffinity(0) == mask and os.sched_getaffinity(pid) == mask
        cores.end()  # once only: a second end() changes nothing
    finally:
        forked_distance.reap_children({"pids": [pid], "pipe": None})
        os.close(r), os.close(w)
    assert os.sched_getaffinity(0) == mask

    V, F = _crossing_boxes_with_flips()
    Q = _queries(30_000, seed=3)
    _threads(monkeypatch, 2)
    expected = SignedDistance(V, F, queries_hint=10**6)(Q)
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert S._cores.active == (len(mask) > 1) and len(os.sched_getaffinity(0)) == (1 if len(mask) > 1 else len(mask))
    np.testing.assert_array_equal(S(Q), expected)
    assert os.sched_getaffinity(0) == mask
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    S.close()
    assert os.sched_getaffinity(0) == mask
