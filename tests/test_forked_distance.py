"""The distance computed in a forked child while the sign is set up (SignedDistance(queries=...)): the same
result bit for bit as the distance computed in the process, a fallback where the child fails, and no child
left behind."""
import functools
import os

import numpy as np
import trimesh

import source.signed_distance as signed_distance
from source.forked_distance import BackgroundDistance, squared_distance
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


def _queries(n=30_000, seed=0):
    return np.random.default_rng(seed).uniform(-0.7, 0.7, size=(n, 3))


def _child_gone(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_forked_distance_equals_in_process(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries()
    monkeypatch.setenv("IGL_NUM_THREADS", "1")
    serial = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert serial._prefetch is None  # one thread: no child
    expected = serial(Q)
    monkeypatch.setenv("IGL_NUM_THREADS", "2")  # (libigl reads it once; only the choice to fork reads it here)
    for labels in (True, False):
        S = SignedDistance(V, F, queries_hint=10**6, face_labels=labels, queries=Q)
        assert S._prefetch is not None
        assert (S.F != S._F_dist).any()  # the repair turned faces over after the fork
        pid = S._prefetch._state["pid"]
        out = S(Q)
        assert _child_gone(pid)
        np.testing.assert_array_equal(out, expected if labels else SignedDistance(V, F, face_labels=False)(Q))
    # and the child's raw result is libigl's in this process, bit for bit
    bg = BackgroundDistance(V, F, Q)
    for x, y in zip(bg.result(), squared_distance(V, F, Q)):
        np.testing.assert_array_equal(x, y)
    # the sign is right: the union of the two boxes (one stored inside out) is inside
    inside = ((np.abs(Q) < [0.4, 0.15, 0.15]).all(1) | (np.abs(Q - SHIFT) < [0.15, 0.4, 0.15]).all(1))
    far = np.abs(expected) > 1e-6
    np.testing.assert_array_equal((expected < 0)[far], inside[far])


def _crash(V, F, Q):
    os._exit(3)


def _raise(V, F, Q):
    raise MemoryError("no memory in the child")


def test_failed_child_falls_back(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries(5_000, seed=1)
    for bad in (_crash, _raise):
        assert BackgroundDistance(V, F, Q, compute=bad).result() is None
    monkeypatch.setenv("IGL_NUM_THREADS", "2")
    expected = SignedDistance(V, F, queries_hint=10**6)(Q)
    monkeypatch.setattr(signed_distance, "BackgroundDistance", functools.partial(BackgroundDistance, compute=_crash))
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    assert S._prefetch is not None
    np.testing.assert_array_equal(S(Q), expected)


def test_other_queries_and_close_leave_no_child(monkeypatch):
    V, F = _crossing_boxes_with_flips()
    Q = _queries(5_000, seed=2)
    monkeypatch.setenv("IGL_NUM_THREADS", "2")
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    pid = S._prefetch._state["pid"]
    other = Q + 0.01  # not the queries given: the child is stopped and the distance computed here
    np.testing.assert_array_equal(S(other), SignedDistance(V, F, queries_hint=10**6)(other))
    assert _child_gone(pid) and S._prefetch is None
    S = SignedDistance(V, F, queries_hint=10**6, queries=Q)
    pid = S._prefetch._state["pid"]
    S.close()  # e.g. the sampler rejecting the mesh as open
    assert _child_gone(pid)
    np.testing.assert_array_equal(S(Q), SignedDistance(V, F, queries_hint=10**6)(Q))  # still answers
    bg = BackgroundDistance(V, F, Q)
    pid = bg._state["pid"]
    del bg  # dropped without result(): reaped by its finalizer
    assert _child_gone(pid)
