"""Row grouping and edges of source/mesh_topology.py against straightforward references."""
import numpy as np

from source.mesh_topology import _edges, row_ids


def _same_grouping(ids, a):
    """ids group the rows of a exactly as np.unique(axis=0) does, numbered 0..k-1."""
    _, ref = np.unique(a, axis=0, return_inverse=True)
    ref = ref.reshape(-1)
    k = ref.max() + 1
    assert ids.min() == 0 and ids.max() == k - 1
    # a one-to-one map between the two numberings: every pair (ids, ref) appears with one partner only
    pairs = np.unique(np.stack([ids, ref], axis=1), axis=0)
    assert len(pairs) == k


def test_row_ids_groups_equal_rows():
    rng = np.random.default_rng(0)
    small = rng.integers(-3, 4, size=(5_000, 4))  # many repeats
    _same_grouping(row_ids(small), small)
    # columns spanning the whole int64 range: the fold must rank them instead of overflowing
    wide = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(2_000, 3))
    wide[1_000:] = wide[:1_000]
    ids = row_ids(wide)
    _same_grouping(ids, wide)
    assert np.array_equal(ids[1_000:], ids[:1_000])
    # floats, compared bit for bit (signs included), and float32 taken as float64
    V = np.round(rng.normal(size=(3_000, 3)), 2) + 0.0
    _same_grouping(row_ids(V), V)
    _same_grouping(row_ids(V.astype(np.float32)), V.astype(np.float32).astype(np.float64))
    # ids follow the rows' lexicographic order
    rows = np.array([[2, 0], [1, 5], [1, 3], [2, 0]])
    assert row_ids(rows).tolist() == [2, 1, 0, 2]


def test_edges_of_two_triangles():
    F = np.array([[0, 1, 2], [2, 1, 3]])
    edges, edge_of, count = _edges(F)
    # edge k of a face is opposite corner k
    for f in range(2):
        for k in range(3):
            assert set(edges[edge_of[f, k]]) == set(F[f]) - {F[f, k]}
    shared = edge_of[0, 0]  # opposite corner 0: the edge 1-2, shared by both faces
    assert count[shared] == 2 and count.sum() == 6 and len(edges) == 5
