"""Row grouping and edges of source/mesh_topology.py against straightforward references."""
import igl
import numpy as np
import trimesh

from source.mesh_topology import _coplanar_across_parts, _edges, _nearest_of_other_parts, _parts, _planes, row_ids


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
    # columns folded several at a time (planes rounded to 1e-4: all four in one key; to 1e-6: two and two), and
    # a mix of narrow and whole-range columns: the ids are np.unique(axis=0)'s, in its lexicographic order
    for width in (20_001, 2_000_001):
        a = rng.integers(-(width // 2), width // 2 + 1, size=(20_000, 4))
        a[10_000:] = a[:10_000]
        assert np.array_equal(row_ids(a), np.unique(a, axis=0, return_inverse=True)[1].reshape(-1))
    mixed = np.concatenate([rng.integers(0, 3, size=(5_000, 2)),
                            rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(5_000, 1)),
                            rng.integers(-7, 8, size=(5_000, 2))], axis=1)
    mixed[2_500:] = mixed[:2_500]
    assert np.array_equal(row_ids(mixed), np.unique(mixed, axis=0, return_inverse=True)[1].reshape(-1))


def test_edges_of_two_triangles():
    F = np.array([[0, 1, 2], [2, 1, 3]])
    edges, edge_of, count = _edges(F)
    # edge k of a face is opposite corner k
    for f in range(2):
        for k in range(3):
            assert set(edges[edge_of[f, k]]) == set(F[f]) - {F[f, k]}
    shared = edge_of[0, 0]  # opposite corner 0: the edge 1-2, shared by both faces
    assert count[shared] == 2 and count.sum() == 6 and len(edges) == 5


def _footprint_distance(P, lo, hi):
    """Distance in the xz plane from points P (n, 3) to the rectangle [lo, hi] (x and z)."""
    d = np.maximum(np.maximum(lo - P[:, [0, 2]], P[:, [0, 2]] - hi), 0.0)
    return np.linalg.norm(d, axis=1)


def test_coplanar_faces_are_those_near_another_part():
    """A small box standing on a finely cut plate: with the faces' corners given, only the plate's top faces
    near the box's bottom count as lying in another part's plane, and the box's bottom does; without them the
    whole plane counts. Against a reference: every plate face with a corner or its centroid in the box's footprint
    counts, none whose corners are all further from it than twice the face's length plus the margin."""
    plate = trimesh.creation.box(extents=(1.0, 0.1, 1.0)).subdivide_to_size(0.05)  # top at y = 0.05
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.1))
    box.apply_translation([0.2, 0.15, -0.1])  # bottom at y = 0.05, on the plate
    mesh = trimesh.util.concatenate([plate, box])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    tri = V[F]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    plane = _planes(V, F, normals, span=2.0)
    part = _parts(_edges(F)[1])
    margin = 1e-4
    near = _coplanar_across_parts(plane, part, 1e-6, tri, margin)
    every = _coplanar_across_parts(plane, part, 1e-6)
    in_plane = (np.abs(tri[:, :, 1] - 0.05) < 1e-12).all(1)
    on_plate = np.arange(len(F)) < len(plate.faces)
    assert np.array_equal(every, in_plane)  # the plate's whole top and the box's bottom
    assert near[in_plane & ~on_plate].all() and (in_plane & ~on_plate).sum() == 2
    assert not near[~in_plane].any()
    lo, hi = np.array([0.15, -0.15]), np.array([0.25, -0.05])  # the box's footprint (x, z)
    top = np.flatnonzero(in_plane & on_plate)
    corners = _footprint_distance(tri[top].reshape(-1, 3), lo, hi).reshape(-1, 3)
    inside = (corners == 0).any(1) | (_footprint_distance(tri[top].mean(1), lo, hi) == 0)
    length = np.linalg.norm(tri[top] - np.roll(tri[top], 1, axis=1), axis=2).max(1)
    far = corners.min(1) > 2 * length + margin
    assert inside.sum() > 4 and near[top[inside]].all()
    assert far.sum() > 0.9 * len(top) and not near[top[far]].any()


def test_nearest_face_of_another_part_in_the_same_plane_group():
    """_nearest_of_other_parts (one distance query per rank of part, the groups shifted apart) against the exact
    distance from each point alone to its group's faces of other parts: random triangles in three plane groups
    of up to three parts each; for points on faces, the distance to the nearest such face, and none (inf, -1)
    where the group has one part only."""
    rng = np.random.default_rng(3)
    n = 300
    group = rng.integers(0, 3, size=n)
    part = np.where(group == 2, 7, rng.integers(0, 3, size=n))  # group 2: one part only
    tri = rng.uniform(-1, 1, size=(n, 3, 3))
    tri[:, :, 2] = group[:, None] * 10.0  # each group in its own plane z = const
    on = rng.integers(0, n, size=200)
    bary = rng.dirichlet(np.ones(3), size=200)
    P = np.einsum("nk,nkd->nd", bary, tri[on])
    dist, face = _nearest_of_other_parts(P, on, tri, group, part)

    for i in range(len(P)):
        others = np.flatnonzero((group == group[on[i]]) & (part != part[on[i]]))
        if len(others) == 0:
            assert dist[i] == np.inf and face[i] == -1
            continue
        V = tri[others].reshape(-1, 3)
        sq = igl.point_mesh_squared_distance(P[i : i + 1], V, np.arange(len(V)).reshape(-1, 3))[0]  # a loop: the reference
        assert np.isclose(dist[i], np.sqrt(sq[0]), atol=1e-12)
        assert group[face[i]] == group[on[i]] and part[face[i]] != part[on[i]]
    assert (face[group[on] == 2] == -1).all() and (face[group[on] != 2] >= 0).all()
