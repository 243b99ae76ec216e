"""Signed distance against analytic shapes: sphere, box, torus, overlapping parts, holes, flips."""
import igl
import numpy as np
import pytest
import trimesh

from source.shape_families import part_sdf, shape_sdf
import source.ray_casts as ray_casts
import source.signed_distance as signed_distance
from source.signed_distance import (Rays, SignedDistance, _cone_caps, _strip_points,
                                    drop_twin_faces, exact_winding_number, labels_pay_off, orient_components,
                                    unsigned_distance, winding_number)
from source.forked_distance import aabb_query
from source.long_faces import distance_cut_length, split_long_faces
from source.triangle_points import barycentric_in_faces


def _barycentric(tri, p):
    """Reference: barycentric coordinates of points p (n, 3) in triangles tri (n, 3, 3), each from its own
    corners (the arithmetic that barycentric_in_faces does with per-face terms)."""
    v0, v1, v2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], p - tri[:, 0]
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) > 0, d00 * d11 - d01 * d01, 1.0)
    b1 = (d11 * d20 - d01 * d21) / den
    b2 = (d00 * d21 - d01 * d20) / den
    return np.stack([1.0 - b1 - b2, b1, b2], axis=1)


def _queries(n=20_000, seed=0, scale=1.0):
    return np.random.default_rng(seed).uniform(-scale, scale, size=(n, 3))


def _open_sheet():
    """An open sheet: the top of an annulus (radii 0.1 and 0.35), in the plane z = -0.6."""
    sheet = trimesh.creation.annulus(r_min=0.1, r_max=0.35, height=0.2)
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)
    sheet.apply_translation([0.0, 0.0, -0.7])
    return sheet


def _sphere_mesh(r=0.5):
    m = trimesh.creation.icosphere(subdivisions=5, radius=r)
    return np.asarray(m.vertices), np.asarray(m.faces)


def test_sphere_distance_and_sign():
    V, F = _sphere_mesh(0.5)
    Q = _queries()
    sdf = SignedDistance(V, F)(Q)
    truth = np.linalg.norm(Q, axis=1) - 0.5
    # the icosphere's faces lie up to ~1.2e-4 inside the true sphere
    assert np.abs(sdf - truth).max() < 2e-4
    far = np.abs(truth) > 2e-4
    assert (np.sign(sdf[far]) == np.sign(truth[far])).all()


def test_box_distance_is_exact():
    m = trimesh.creation.box(extents=(0.6, 0.4, 1.0))
    Q = _queries()
    sdf = SignedDistance(np.asarray(m.vertices), np.asarray(m.faces))(Q)
    truth = part_sdf({"type": "box", "center": [0, 0, 0], "half": [0.3, 0.2, 0.5]}, Q)
    np.testing.assert_allclose(sdf, truth, atol=1e-9)


def test_torus_sign_and_distance():
    R, r = 0.5, 0.2
    m = trimesh.creation.torus(major_radius=R, minor_radius=r, major_sections=128, minor_sections=64)
    Q = _queries()
    sdf = SignedDistance(np.asarray(m.vertices), np.asarray(m.faces))(Q)
    truth = np.linalg.norm(np.stack([np.linalg.norm(Q[:, :2], axis=1) - R, Q[:, 2]], axis=1), axis=1) - r
    assert np.abs(sdf - truth).max() < 2e-3  # faceting of 128 x 64 sections
    far = np.abs(truth) > 2e-3
    assert (np.sign(sdf[far]) == np.sign(truth[far])).all()


def _overlapping_boxes():
    parts = [{"type": "box", "center": [0, 0, 0], "half": [0.5, 0.1, 0.3]},
             {"type": "box", "center": [0.3, 0.2, 0], "half": [0.1, 0.4, 0.1]},
             {"type": "box", "center": [-0.3, -0.1, 0.1], "half": [0.15, 0.15, 0.5]}]
    meshes = []
    for p in parts:
        m = trimesh.creation.box(extents=2 * np.asarray(p["half"]))
        m.apply_translation(p["center"])
        meshes.append(m)
    return parts, meshes


def test_overlapping_boxes_without_union():
    parts, meshes = _overlapping_boxes()
    m = trimesh.util.concatenate(meshes)  # internal faces stay: no boolean union
    Q = _queries()
    sdf = SignedDistance(np.asarray(m.vertices), np.asarray(m.faces))(Q)
    truth = shape_sdf(parts, Q)
    assert (np.sign(sdf) == np.sign(truth)).mean() == 1.0
    out = truth > 0  # outside, the distance to the union is exactly the min over parts
    np.testing.assert_allclose(sdf[out], truth[out], atol=1e-9)


def test_flipped_part_is_reoriented():
    parts, meshes = _overlapping_boxes()
    meshes[1].invert()  # one part modelled inside out
    m = trimesh.util.concatenate(meshes)
    V, F = np.asarray(m.vertices), np.asarray(m.faces)
    Q = _queries()
    truth = shape_sdf(parts, Q)
    # without reorientation the overlap cancels (+1 - 1 = 0) and reads as outside
    raw = np.abs(winding_number(V, F, Q)) > 0.5
    overlap = (part_sdf(parts[0], Q) < 0) & (part_sdf(parts[1], Q) < 0)
    assert overlap.sum() > 10 and (raw[overlap] == False).all()
    sdf = SignedDistance(V, F)(Q)
    assert (np.sign(sdf) == np.sign(truth)).mean() == 1.0
    # orient_components flips exactly the faces of the inverted part
    assert (orient_components(V, F) != F).any(1).sum() == 12


def test_single_flipped_faces_are_turned_back():
    """Just off a face wound against its neighbours, w reads the wrong side (its own half-turn dominates):
    92% right signs on this sphere before repair. orient_components turns exactly those faces back."""
    V, F0 = _sphere_mesh(0.5)
    F = F0.copy()
    flip = np.random.default_rng(1).random(len(F)) < 0.1
    F[flip] = F[flip][:, ::-1]
    np.testing.assert_array_equal(np.sort(orient_components(V, F), axis=1), np.sort(F0, axis=1))
    assert ((orient_components(V, F) == F0).all(1)).all()  # same winding as the unflipped sphere
    Q = _queries()
    truth = np.linalg.norm(Q, axis=1) - 0.5
    far = np.abs(truth) > 2e-4
    for labels in (True, False):
        S = SignedDistance(V, F, face_labels=labels)
        assert S.use_labels == labels
        assert (np.sign(S(Q)[far]) == np.sign(truth[far])).all()
    unrepaired = SignedDistance(V, F, orient_parts=False, face_labels=True)(Q)
    assert (np.sign(unrepaired[far]) == np.sign(truth[far])).mean() < 0.99


def test_double_sided_mesh_is_made_single_sided():
    """Every face stored twice, once each way (common in ShapeNet): w = 0 everywhere until one of each
    twin pair is dropped."""
    m = trimesh.creation.box(extents=(0.6, 0.4, 1.0))
    V, F = np.asarray(m.vertices), np.asarray(m.faces)
    F2 = np.concatenate([F, F[:, ::-1]])
    Q = _queries()
    truth = part_sdf({"type": "box", "center": [0, 0, 0], "half": [0.3, 0.2, 0.5]}, Q)
    assert (np.abs(winding_number(V, F2, Q)) < 0.5).all()  # as given, nothing reads inside
    assert len(drop_twin_faces(V, F2)) == len(F)
    for labels in (True, False):
        np.testing.assert_allclose(SignedDistance(V, F2, face_labels=labels)(Q), truth, atol=1e-9)


def test_parts_touching_face_to_face_keep_their_faces():
    """Two boxes sharing a face (a small share of the area): the twins stay, and w is right with them."""
    a = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    b = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    b.apply_translation([0.4, 0, 0])
    V = np.concatenate([a.vertices, b.vertices])
    F = np.concatenate([a.faces, b.faces + len(a.vertices)])
    assert len(drop_twin_faces(V, F)) == len(F)
    Q = _queries()
    truth = np.minimum(part_sdf({"type": "box", "center": [0, 0, 0], "half": [0.2] * 3}, Q),
                       part_sdf({"type": "box", "center": [0.4, 0, 0], "half": [0.2] * 3}, Q))
    assert (np.sign(SignedDistance(V, F)(Q)) == np.sign(truth)).all()


def test_strip_points_cover_large_faces():
    tri = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 0], [2, 0, 0], [2, 0.05, 0]]], float)
    h = 0.1
    pts, face, cell = _strip_points(tri, h)
    rng = np.random.default_rng(0)
    for f in range(2):
        u = rng.random((4000, 2))
        u = np.where(u.sum(1, keepdims=True) > 1, 1 - u, u)  # uniform in the triangle
        q = tri[f, 0] + u[:, :1] * (tri[f, 1] - tri[f, 0]) + u[:, 1:] * (tri[f, 2] - tri[f, 0])
        gap = np.linalg.norm(q[:, None] - pts[face == f][None], axis=2).min(1).max()
        assert gap <= h, gap  # every point of the face is within the spacing of a test point
        bary = _barycentric(np.repeat(tri[f:f + 1], (face == f).sum(), 0), pts[face == f])
        assert (bary > 0).all()  # test points lie inside their face
        # the lookup finds each test point from its own coordinates, and a point of the face in a cell nearby
        np.testing.assert_array_equal(cell(np.full(len(bary), f), bary), np.flatnonzero(face == f))
        at = cell(np.full(len(q), f), _barycentric(np.repeat(tri[f:f + 1], len(q), 0), q))
        assert (face[at] == f).all()
        assert np.linalg.norm(pts[at] - q, axis=1).max() <= 1.5 * h
    assert (face == 1).sum() < 40  # a sliver gets a row of points, not a square lattice


def test_flipped_faces_and_hole_on_sphere():
    V, F = _sphere_mesh(0.5)
    rng = np.random.default_rng(1)
    F = F.copy()
    flip = rng.random(len(F)) < 0.1
    F[flip] = F[flip][:, ::-1]  # 10% of faces flipped at random
    centers = V[F].mean(1)
    F = F[np.linalg.norm(centers - [0, 0, 0.5], axis=1) > 0.1]  # a hole at the pole
    Q = _queries()
    truth = np.linalg.norm(Q, axis=1) - 0.5
    sdf = SignedDistance(V, F)(Q)
    far = np.abs(truth) > 2e-4
    assert (np.sign(sdf[far]) == np.sign(truth[far])).mean() > 0.999


def test_open_sheet_is_ambiguous_and_closed_is_not():
    sheet = trimesh.creation.box(extents=(1, 1, 0.2))
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)  # only the top face: an open square
    S = SignedDistance(np.asarray(sheet.vertices), np.asarray(sheet.faces))
    assert S.ambiguous_area_fraction() > 0.5
    V, F = _sphere_mesh()
    assert SignedDistance(V, F).ambiguous_area_fraction() < 1e-3


def test_ambiguous_share_sampled_without_labels(monkeypatch):
    # a closed box (area 6) beside an open square sheet (area 1): about 1/7 of the area has no clear inside.
    # Without labels the share is estimated on a sample of the test points, drawn by the area each stands for;
    # it must agree with the share over every test point
    box = trimesh.creation.box(extents=(1, 1, 1))
    sheet = trimesh.creation.box(extents=(1, 1, 0.2))
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)
    sheet.remove_unreferenced_vertices()
    sheet.apply_translation([1.6, 0, 0])
    mesh = trimesh.util.concatenate([box, sheet])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    monkeypatch.setattr(signed_distance, "AMBIGUITY_SAMPLE", 2000)
    S = SignedDistance(V, F, face_labels=False)
    pts, owner, _ = S._test_points(S.V[S.F], np.arange(len(S.F)))
    assert len(pts) > 2 * signed_distance.AMBIGUITY_SAMPLE  # the estimate does sample
    w = S._w(S._off(pts, owner))
    weight = S.area[owner] / np.bincount(owner, minlength=len(S.F))[owner]
    amb = lambda x: signed_distance._ambiguous(x).astype(float)
    every = float(((amb(w[: len(pts)]) + amb(w[len(pts):])) / 2 * weight).sum() / weight.sum())
    estimate = S.ambiguous_area_fraction()
    assert abs(every - 1 / 7) < 0.03
    assert abs(estimate - every) < 0.025  # standard error about 0.008 for 2,000 points at 1/7


def test_tiers_agree_with_direct_winding_number():
    """Fine meshes take the labelled-face path; it must match w evaluated at every query."""
    V, F = _sphere_mesh(0.5)
    parts, meshes = _overlapping_boxes()
    box = trimesh.util.concatenate(meshes).subdivide_to_size(0.02)
    for V, F in ((V, F), (np.asarray(box.vertices), np.asarray(box.faces))):
        S = SignedDistance(V, F, queries_hint=10**7, face_labels=True)
        assert S.use_labels
        Q = _queries(50_000, seed=2)
        d, _, _ = unsigned_distance(V, F, Q)
        direct = np.where(np.abs(winding_number(V, orient_components(V, F), Q)) > 0.5, -d, d)
        np.testing.assert_array_equal(S(Q), direct)
        assert S.last_fallback < 0.5  # most queries were answered by tiers 1-2


@pytest.mark.parametrize("embree", [True, False])
def test_continued_winding_number_equals_direct(embree, monkeypatch):
    """Tier 3 carries w over from a test point by counting crossed faces: on a closed surface (overlapping,
    inverted and face-to-face touching parts) it must give w itself; with a hole and an open sheet, where w
    also varies smoothly, the caps over the boundary loops must make it w again. From the nearest test point
    and from the test point next to each query's closest point (what the queries use), with Embree's casts
    and with libigl's."""
    monkeypatch.setattr(ray_casts, "USE_EMBREE", embree)
    parts, meshes = _overlapping_boxes()
    meshes[1].invert()  # a part modelled inside out
    touching = trimesh.creation.box(extents=(0.4, 0.4, 0.4))  # shares the face x = 0.7 with the next box
    touching.apply_translation([0.5, 0.5, 0.5])
    beside = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    beside.apply_translation([0.9, 0.5, 0.5])
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    sphere.apply_translation([-0.5, 0.5, -0.4])
    holed = sphere.copy()
    holed.update_faces(holed.face_normals[:, 2] < 0.9)  # a hole at the top
    sheet = trimesh.creation.annulus(r_min=0.1, r_max=0.35, height=0.2)  # an open disc with a hole (two loops)
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)
    sheet.apply_translation([0.2, -0.5, 0.3])
    Q = _queries(20_000, seed=3, scale=1.2)
    for last, closed in (([sphere], True), ([holed, sheet], False)):
        mesh = trimesh.util.concatenate(meshes + [touching, beside] + last).subdivide_to_size(0.1)
        V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        S = SignedDistance(V, F, queries_hint=10**7)
        assert S.use_labels and S.layered.any()  # the touching faces lie on each other
        assert S.closed == closed and (S.caps is None) == closed
        assert (S.rays.scene is not None) == embree
        direct = winding_number(S.V, S.F, Q)
        dist, rest, anchor = S._query(Q)
        assert rest.sum() > 300 and (anchor[rest] >= 0).all() and (anchor[~rest] == -1).all()
        # equal up to the fast winding number's own approximation (at the anchors, at Q, of the caps)
        np.testing.assert_allclose(S.continued_winding_number(Q), direct, atol=0.02)
        np.testing.assert_allclose(S.continued_winding_number(Q[rest], dist[rest], anchor[rest]), direct[rest], atol=0.02)
        assert np.abs(direct).max() > 0.9  # there is an inside
        if not closed:
            assert ((direct % 1 > 0.1) & (direct % 1 < 0.9)).sum() > 100  # fractional w near the hole and sheet

def test_parts_touching_face_to_face_are_layered():
    """A leg whose top lies on the seat's bottom face: the four faces in that plane (two of each part) are
    layered, found from the planes rather than from test points (the leg's top is smaller than the gap
    between the seat's test points), and w carried over through the contact equals w."""
    seat = trimesh.creation.box(extents=(1.0, 0.2, 1.0))  # bottom face at y = -0.1
    leg = trimesh.creation.box(extents=(0.02, 0.4, 0.02))
    leg.apply_translation([0.3, -0.3, 0.3])  # top face at y = -0.1, on the seat's bottom
    mesh = trimesh.util.concatenate([seat, leg])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    centres = S.V[S.F].mean(1)
    in_contact_plane = (np.abs(centres[:, 1] + 0.1) < 1e-9) & (np.abs(S.normals[:, 1]) > 0.99)
    assert in_contact_plane.sum() == 4
    np.testing.assert_array_equal(S.layered, in_contact_plane)
    rng = np.random.default_rng(0)
    Q = np.concatenate([_queries(5000, seed=4), [0.3, -0.1, 0.3] + rng.normal(scale=0.03, size=(5000, 3))])
    np.testing.assert_allclose(S.continued_winding_number(Q), winding_number(S.V, S.F, Q), atol=0.02)


@pytest.mark.parametrize("count_probes", [False, True])
def test_regions_of_a_closed_mesh_carry_w(count_probes, monkeypatch):
    """On a closed mesh w just off a region of faces that nothing crosses or touches is the same all over it,
    so a few test points per region give it to the rest: it must equal w evaluated at every test point, on a
    box nested in another (w = 2 inside both), a bar crossing the outer box, and a double-sided square (a
    part folded onto itself, whose two layers must not be taken for one region). With w at the probes, and
    with most probes counted from a few (COUNT_PROBES_ABOVE, as on thin faces)."""
    monkeypatch.setattr(signed_distance, "COUNT_PROBES_ABOVE", -1.0 if count_probes else np.inf)
    outer = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    inner = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    bar = trimesh.creation.box(extents=(1.6, 0.1, 0.1))
    bar.apply_translation([0.0, 0.35, 0.0])  # through the outer box's two x faces
    grid = np.array([[x, y, 0.35] for y in (-0.3, -0.2, -0.1) for x in (-0.3, -0.2, -0.1)])
    quads = [(i + 3 * j, i + 1 + 3 * j, i + 4 + 3 * j, i + 3 + 3 * j) for j in range(2) for i in range(2)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    square = trimesh.Trimesh(grid, np.concatenate([tris, tris[:, ::-1]]), process=False)  # both ways round
    mesh = trimesh.util.concatenate([outer, inner, bar]).subdivide_to_size(0.1)
    mesh = trimesh.util.concatenate([mesh, square])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    assert S.use_labels and S.closed
    # most test points took their region's w; with counted probes, fewer were evaluated
    assert S.winding_evaluated < (0.25 if count_probes else 0.5)  # 0.21 and 0.32
    w_plus, w_minus, owner = S.side_w
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    direct = winding_number(S.V, S.F, at)
    np.testing.assert_allclose(np.concatenate([w_plus, w_minus]), direct, atol=0.05)
    assert np.isin([0, 1], np.round(w_plus)).all() and np.isin([1, 2], np.round(w_minus)).all()  # w = 2 inside both boxes
    folded = np.flatnonzero(np.abs(S.V[S.F][:, :, 2] - 0.35).max(1) < 1e-12)
    folded = folded[np.abs(S.normals[folded, 2]) > 0.99]
    assert len(folded) == 16 and (S._regions(S._boundary())[folded] == -1).all()
    Q = _queries(20_000, seed=5)
    d, _, _ = unsigned_distance(S.V, S.F, Q)
    np.testing.assert_array_equal(S(Q), np.where(np.abs(winding_number(S.V, S.F, Q)) > 0.5, -d, d))


def test_rays_find_small_and_slanted_faces():
    """A triangle of 5e-9 area, and a large one crossed at a slant of 1e-6: libigl's ray-triangle test takes a
    ray as parallel to a triangle below an absolute 1e-6 determinant (2 x area x the sine of the slant), which
    missed such faces on real chairs; the casts here must find both, with Embree and with libigl, first hit
    and every hit."""
    V = np.array([[0, 0, 0], [1e-4, 0, 0], [0, 1e-4, 0],  # tiny, in z = 0
                  [-0.4, -0.4, 0.5], [0.4, -0.4, 0.5], [0, 0.4, 0.5]], float)  # large, in z = 0.5
    F = np.array([[0, 1, 2], [3, 4, 5]])
    orig = np.array([[2e-5, 2e-5, -0.1], [0.0, -0.3, 0.5 - 3e-7]])
    d = np.array([[0, 0, 0.2], [0, 0.6, 6e-7]])  # down through the tiny face; up through the large one at y = 0
    for embree in (True, False):
        rays = Rays(V, F, use_embree=embree)
        face, t = rays.first_hits(orig, d, 1.0)
        np.testing.assert_array_equal(face, [0, 1])
        np.testing.assert_allclose(t, 0.5, atol=0.1)
        seg, hit = rays.all_hits(orig, d)
        assert seg.tolist() == [0, 1] and hit.tolist() == [0, 1]


def test_edges_along_an_axis_plane_find_the_faces_they_touch():
    """Segments lying in an axis plane (direction components exactly 0, as the edges of axis-aligned CAD parts
    and flat caps are) are followed by libigl as copies just off the plane (_hits_along): a face standing on the
    plane is touched at its edge and found, one lifted 1e-6 off it is not, one through it is found, and the
    fan of faces the segment lies in meets it nowhere. (As they are, such segments made libigl's box test
    read 0 x inf: a face standing on the plane z = 0 was never tested, and the fan's boxes all were.)"""
    n = 64  # a fan of slivers in z = 0, radius 1
    ang = 2 * np.pi * np.arange(n) / n
    V = [[0, 0, 0]] + [[np.cos(a), np.sin(a), 0] for a in ang]
    F = [[0, 1 + i, 1 + (i + 1) % n] for i in range(n)]
    for x, z0, z1 in [(0.3, 0.0, 0.3), (-0.3, 1e-6, 0.3), (0.6, -0.1, 0.2)]:  # standing, lifted, through
        k = len(V)
        V += [[x, -0.2, z0], [x, 0.2, z0], [x, 0.0, z1]]
        F.append([k, k + 1, k + 2])
    V, F = np.array(V, float), np.array(F)
    standing, lifted, through = n, n + 1, n + 2
    orig = np.array([[-0.9, 0.05, 0.0], [0.05, -0.9, 0.0]])  # along x, and along y (which meets none of the three)
    d = np.array([[1.8, 0.0, 0.0], [0.0, 1.8, 0.0]])
    for embree in (True, False):
        seg, face = ray_casts._hits_along(Rays(V, F, use_embree=embree), orig, d, float64=True)
        assert sorted(face[seg == 0].tolist()) == [standing, through] and (seg == 1).sum() == 0
    assert lifted not in face


def test_embree_and_libigl_casts_agree():
    """The two ray casters on random segments against overlapping boxes: the same first face, the same t."""
    parts, meshes = _overlapping_boxes()
    mesh = trimesh.util.concatenate(meshes).subdivide_to_size(0.2)
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    rng = np.random.default_rng(7)
    orig, d = rng.uniform(-1, 1, (20_000, 3)), rng.normal(scale=1.0, size=(20_000, 3))
    fe, te = Rays(V, F, use_embree=True).first_hits(orig, d, 1.0)
    fi, ti = Rays(V, F, use_embree=False).first_hits(orig, d, 1.0)
    assert (fe >= 0).sum() > 1000
    np.testing.assert_array_equal(fe >= 0, fi >= 0)
    hit = fe >= 0
    np.testing.assert_allclose(te[hit], ti[hit], atol=1e-5)
    assert (fe[hit] == fi[hit]).mean() > 0.99  # faces differ only where a ray meets an edge shared by two


def test_exact_winding_number_against_libigl_and_a_sphere():
    """The solid-angle sum used for a few points equals libigl's exact winding number, on an open mesh (a
    sphere with a cap cut off) and on the closed sphere (1 inside, 0 outside)."""
    V, F = _sphere_mesh(0.5)
    Q = _queries(40, seed=3)
    inside = np.linalg.norm(Q, axis=1) < 0.5 - 1e-3
    far = np.abs(np.linalg.norm(Q, axis=1) - 0.5) > 1e-3
    np.testing.assert_allclose(exact_winding_number(V, F, Q[far][:20]), inside[far][:20].astype(float), atol=1e-9)
    open_F = F[V[F].mean(1)[:, 2] < 0.3]
    for n in (1, 20, 40):  # the solid-angle sum below `few` points, libigl's above
        np.testing.assert_allclose(exact_winding_number(V, open_F, Q[:n]), igl.winding_number(V, open_F, Q[:n]),
                                   atol=1e-12)


def test_winding_number_sums_a_few_points_exactly_before_its_hierarchy():
    """WindingNumber(exact_first=4): the first points asked for, up to 4 in all, get the exact winding number
    (no hierarchy built); a larger call builds it and gives the fast winding number's values, bit for bit."""
    V, F = _sphere_mesh(0.5)
    F = F[V[F].mean(1)[:, 2] < 0.3]  # open: w not a whole number
    Q = _queries(50, seed=6)
    w = signed_distance.WindingNumber(V, F, exact_first=4)
    np.testing.assert_allclose(w(Q[:3]), igl.winding_number(V, F, Q[:3]), atol=1e-12)
    np.testing.assert_allclose(w(Q[3:4]), igl.winding_number(V, F, Q[3:4]), atol=1e-12)
    assert w._bvh is None
    np.testing.assert_array_equal(w(Q[4:6]), winding_number(V, F, Q[4:6]))  # the 5th and 6th: the hierarchy
    assert w._bvh is not None
    np.testing.assert_array_equal(w(Q[:2]), winding_number(V, F, Q[:2]))


def test_flat_sides_tilted_by_rounded_coordinates_are_one_patch_each():
    """A box turned by an odd angle, cut into small faces, its coordinates written to 7 digits as mesh files
    store them: each side's faces are tilted against each other by up to about 1e-5. Each side is still one flat
    patch (normals joined to FLAT_TILT), no face counts as lying in another patch's plane, and the regions
    carry w to every test point as the exact winding number has it."""
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.3)).subdivide_to_size(0.05)
    box.apply_transform(trimesh.transformations.rotation_matrix(0.7, [1.0, 2.0, 0.5]))
    V, F = np.round(np.asarray(box.vertices), 7), np.asarray(box.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    assert S.use_labels and S.closed
    patch, overlapping = S._flat_patches()
    tilt = np.abs(S.normals[S._pairs[0]] - S.normals[S._pairs[1]]).max(1)
    assert (tilt[tilt < 0.5] > 1e-6).mean() > 0.2  # the rounding tilts faces of one side against each other
    assert tilt[tilt < 0.5].max() > 5e-6
    assert len(np.unique(patch)) == 6 and not overlapping.any()
    assert not S._lying.any()
    w_plus, w_minus, owner = S.side_w
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    np.testing.assert_array_equal(np.round(np.concatenate([w_plus, w_minus])), np.round(igl.winding_number(S.V, S.F, at)))
    assert S.winding_evaluated < 0.2


def test_faces_in_no_region_take_w_by_crossing_counts():
    """The faces that other parts cross are in no region; their test points take w from the nearest point of
    a trusted region by counting crossings, not from the winding number: exact there, and no more test
    points evaluated than the regions' probes."""
    parts, meshes = _overlapping_boxes()
    m = trimesh.util.concatenate(meshes).subdivide_to_size(0.05)
    S = SignedDistance(np.asarray(m.vertices), np.asarray(m.faces), queries_hint=10**7)
    assert S.use_labels and S.closed
    w_plus, w_minus, owner = S.side_w
    own = S._regions(S._boundary())[owner] < 0
    assert own.mean() > 0.03 and S._crossed.sum() > 100
    assert S.winding_evaluated < 1 / 8 + own.mean() / 2  # the probes (every 8th point of a region), not the rest
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    np.testing.assert_allclose(np.concatenate([w_plus, w_minus])[np.tile(own, 2)],
                               igl.winding_number(S.V, S.F, at[np.tile(own, 2)]), atol=1e-6)


def test_a_flat_patch_lying_on_itself_is_found():
    """Two faces of one flat patch lying on each other (joined at an edge, both on the same side of it: w jumps
    by 2 across them, and a count of crossings meets one of them) mark their patch as overlapping, so that its
    faces are left out of the regions and counted with every hit; a box's own patches are not marked, and the
    signs equal the exact winding number's."""
    box = trimesh.creation.box(extents=(1, 1, 1))
    V, F = np.asarray(box.vertices, float), np.asarray(box.faces)
    top = np.flatnonzero(np.asarray(box.face_normals)[:, 2] > 0.5)
    a, b, c = F[top[0]]  # one of the top's two faces, and a face over it on the same side of its edge (a, b)
    V = np.vstack([V, (V[a] + V[b] + 2 * V[c]) / 4])
    F = np.vstack([F, [a, b, len(V) - 1]])
    S = SignedDistance(V, F, queries_hint=10**8)
    assert S.use_labels
    patch, overlapping = S._flat_patches()
    assert overlapping[top].all() and overlapping[-1] and overlapping.sum() == 3
    Q = _queries(4000, seed=5)
    np.testing.assert_array_equal(S(Q) < 0, np.abs(igl.winding_number(S.V, S.F, Q)) > 0.5)


def test_regions_of_an_open_mesh_carry_k():
    """With holes and open sheets, k = w - w_caps is the same just off a region of faces that nothing crosses
    (the caps included), so the region's probes give it to the rest: w at every test point must equal w
    evaluated there, on a box with a hole holding another box, a bar through both, and an open sheet."""
    outer = trimesh.creation.box(extents=(1.0, 1.0, 1.0)).subdivide_to_size(0.1)
    centres = outer.triangles_center
    outer.update_faces(~((centres[:, 2] > 0.49) & (np.abs(centres[:, :2]).max(1) < 0.2)))  # a hole in the top
    inner = trimesh.creation.box(extents=(0.4, 0.4, 0.4)).subdivide_to_size(0.1)
    inner.apply_translation([0.0, 0.0, 0.25])  # its top (z = 0.45) cut by the cap over the hole (down to z = 0.39)
    bar = trimesh.creation.box(extents=(1.6, 0.1, 0.1)).subdivide_to_size(0.1)
    bar.apply_translation([0.0, 0.35, 0.0])
    mesh = trimesh.util.concatenate([outer, inner, bar, _open_sheet()])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    assert S.use_labels and not S.closed
    assert S.winding_evaluated < 0.5  # most test points took their region's k
    w_plus, w_minus, owner = S.side_w
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    direct = winding_number(S.V, S.F, at)
    np.testing.assert_allclose(np.concatenate([w_plus, w_minus]), direct, atol=0.05)
    assert ((direct % 1 > 0.1) & (direct % 1 < 0.9)).sum() > 100  # fractional w near the hole and the sheet
    # the inner box's top faces, which the cap over the hole cuts, are in no region
    meets = S._faces_meeting_caps(S._boundary())
    top = (np.abs(S.V[S.F][:, :, 2] - 0.45).max(1) < 1e-9) & (np.abs(S.V[S.F][:, :, :2]).max((1, 2)) < 0.2 + 1e-9)
    assert top.sum() >= 8 and meets[top].sum() >= 4
    assert (S._regions(S._boundary())[meets] == -1).all()


@pytest.mark.parametrize("counts", [True, False])
def test_region_probes_misread_by_the_fast_winding_number_are_measured_again(monkeypatch, counts):
    """The fast winding number can be off by tenths near CAD faces; a probe it misreads must not make its
    large region fall back to evaluating every test point, nor pass its error on: it is measured again by
    counting crossings from a clean probe, or (counts=False: every count refused) evaluated exactly.
    Simulated by adding 0.3 to the first values of each call of the fast winding number (the first region's
    probes), on a box nested in another."""
    fast = signed_distance.WindingNumber.__call__
    if not counts:
        carried = SignedDistance._carried_k
        monkeypatch.setattr(SignedDistance, "_carried_k",
                            lambda self, *a, **kw: (carried(self, *a, **kw)[0], np.ones(len(a[0]), dtype=bool)))
    exact_calls = []
    exact = signed_distance.exact_winding_number
    monkeypatch.setattr(signed_distance, "exact_winding_number", lambda *a: exact_calls.append(1) or exact(*a))

    def misread(self, Q):
        w = fast(self, Q)
        w[:3] += 0.3
        return w

    monkeypatch.setattr(signed_distance.WindingNumber, "__call__", misread)
    outer = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    inner = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    mesh = trimesh.util.concatenate([outer, inner]).subdivide_to_size(0.1)
    S = SignedDistance(np.asarray(mesh.vertices), np.asarray(mesh.faces), queries_hint=10**7)
    assert S.use_labels and S.closed
    assert S.winding_evaluated < 0.5  # every region still trusted
    w_plus, w_minus, owner = S.side_w
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    np.testing.assert_allclose(np.concatenate([w_plus, w_minus]), igl.winding_number(S.V, S.F, at), atol=0.05)
    assert bool(exact_calls) != counts  # the exact winding number only where the counts were refused


def test_long_faces_cut_for_the_winding_number_keep_the_surface():
    """split_long_faces: no edge longer than asked, the faces already short enough kept as they are, the same
    vector area (orientation kept) and the same exact winding number everywhere (the same surface); and the
    signed distance of a box whose faces are all cut for the fast winding number is still exact."""
    m = trimesh.creation.box(extents=(0.6, 0.4, 1.0))
    sheet = np.array([[0.0, 0.0, 0.0], [2.0, 0.1, 0.0], [0.0, 0.05, 0.3]])  # a long thin open triangle
    V = np.concatenate([m.vertices, sheet])
    F = np.concatenate([m.faces, [[8, 9, 10]]])
    small = trimesh.creation.icosphere(subdivisions=1, radius=0.05)  # faces shorter than the limit
    V, F = np.concatenate([V, small.vertices + 0.7]), np.concatenate([F, small.faces + len(V)])
    Vs, Fs, origin = split_long_faces(V, F, 0.2)
    edges = Vs[Fs] - Vs[Fs][:, [1, 2, 0]]
    assert np.linalg.norm(edges, axis=2).max() <= 0.2 and len(Fs) > 10 * len(F) // 2
    short = np.linalg.norm(V[F] - V[F][:, [1, 2, 0]], axis=2).max(1) <= 0.2
    assert short.sum() == len(small.faces)
    kept = {tuple(f) for f in Fs.tolist()}
    assert all(tuple(f) in kept for f in F[short].tolist())  # same vertex ids: the old vertices come first
    area = lambda V, F: np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]).sum(0)
    np.testing.assert_allclose(area(Vs, Fs), area(V, F), atol=1e-12)
    # each piece lies in the face it came from, and the pieces of a face add up to it (vector area)
    va = lambda V, F: np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    pieces = np.stack([np.bincount(origin, weights=va(Vs, Fs)[:, k], minlength=len(F)) for k in range(3)], 1)
    np.testing.assert_allclose(pieces, va(V, F), atol=1e-12)
    n = va(V, F) / np.linalg.norm(va(V, F), axis=1)[:, None]
    off_plane = np.einsum("nkd,nd->nk", Vs[Fs] - V[F[origin, :1]], n[origin])
    assert np.abs(off_plane).max() < 1e-12
    # more pieces than max_faces: the mesh as it is (bounded memory on a mesh of long slivers)
    Vm, Fm, om = split_long_faces(V, F, 0.2, max_faces=len(Fs) - 1)
    assert np.array_equal(Vm, V) and np.array_equal(Fm, F) and np.array_equal(om, np.arange(len(F)))
    assert len(split_long_faces(V, F, 0.2, max_faces=len(Fs))[1]) == len(Fs)
    Q = _queries(200, seed=5, scale=1.2)
    np.testing.assert_allclose(igl.winding_number(Vs, Fs, Q), igl.winding_number(V, F, Q), atol=1e-9)
    S = SignedDistance(np.asarray(m.vertices), np.asarray(m.faces), queries_hint=10**7)
    Q = _queries(20_000, seed=6)
    truth = part_sdf({"type": "box", "center": [0, 0, 0], "half": [0.3, 0.2, 0.5]}, Q)
    np.testing.assert_allclose(S(Q), truth, atol=1e-9)
    assert len(S._w_mesh.F) > 4 * len(m.faces)  # the fast winding number was taken on the cut faces


def test_distance_and_ray_casts_on_cut_faces_name_the_files_faces():
    """Long faces are cut for libigl's distance tree and ray casts (long_faces.distance_cut_length): the
    distance is the bare query's on the uncut faces, the closest face and every face a ray meets are faces of
    the file (each once, though a segment may pass through a cut), and the signs are still exact."""
    # a box of 12 long faces beside a finely cut sphere: the box's faces are 8 x longer than the median face
    box = trimesh.creation.box(extents=(0.8, 0.5, 0.6))
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.15)
    V = np.concatenate([box.vertices, ball.vertices + [0.7, 0.0, 0.0]])
    F = np.concatenate([box.faces, ball.faces + len(box.vertices)])
    S = SignedDistance(V, F, queries_hint=10**7)
    assert len(S._F_cut) > len(F) and S._dist_origin.max() == len(F) - 1
    assert distance_cut_length(S.longest, S.span) < np.linalg.norm([0.8, 0.5])  # the box's faces were cut
    Q = _queries(20_000, seed=8)
    dist, face, closest = unsigned_distance(V, F, Q)
    sq, cut_face, cut_closest = aabb_query(S._V_cut, S._F_cut)(Q)
    np.testing.assert_allclose(np.sqrt(sq), dist, atol=1e-12)
    # the same query through the ray casts' tree (the cut faces scaled by a power of two): the same bits
    for a, b in zip(S._distance_query()(Q), (sq, cut_face, cut_closest)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(cut_closest, closest, atol=1e-9)
    # the file's face that each cut face came from holds the closest point
    face_of = S._dist_origin[cut_face]
    tri = V[F[face_of]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1)[:, None]
    assert np.abs(np.einsum("nd,nd->n", cut_closest - tri[:, 0], normal)).max() < 1e-12
    bary = _barycentric(tri, cut_closest)
    assert bary.min() > -1e-9
    box_sdf = part_sdf({"type": "box", "center": [0, 0, 0], "half": [0.4, 0.25, 0.3]}, Q)
    # the icosphere is a polyhedron: the sign is compared away from its faces and the box's
    ball = np.linalg.norm(Q - [0.7, 0.0, 0.0], axis=1) - 0.15
    far = (np.abs(box_sdf) > 1e-3) & ((ball < -0.15 * 0.02) | (ball > 0))
    np.testing.assert_array_equal((S(Q) < 0)[far], ((box_sdf < 0) | (ball < 0))[far])
    np.testing.assert_allclose(np.abs(S(Q)), dist, atol=1e-12)
    # a segment along the box's top face diagonal crosses the cuts: every face met is the file's, once
    o = np.array([[-0.3, 0.0, 0.5], [0.2, 0.1, -0.5]])
    d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
    seg, hit = S.rays.all_hits(o, d)
    assert sorted(zip(seg.tolist(), hit.tolist())) == sorted(set(zip(seg.tolist(), hit.tolist())))
    assert (np.bincount(seg, minlength=2) == 2).all() and hit.max() < len(box.faces)


def test_cone_caps_close_each_loop_with_its_own_rings():
    """Caps over two boundary loops, a circle of 64 short edges and a triangle: each cone cut into strips
    about as long as its loop's edges (8 rings at most: 64 x 15 faces; one ring: 3 faces), with the loops as
    their only boundary, running the way the mesh's boundary runs, and the same surface as uncut cones (the
    same exact winding number)."""
    t = 2 * np.pi * np.arange(64) / 64
    circle = np.stack([0.3 * np.cos(t), 0.3 * np.sin(t), np.zeros(64)], 1)
    triangle = np.array([[1.0, 0.0, 0.2], [1.2, 0.0, 0.2], [1.1, 0.17, 0.25]])
    at = np.concatenate([circle, triangle])
    loops = [np.arange(64), 64 + np.arange(3)]
    run = np.concatenate([np.stack([l, np.roll(l, -1)], 1) for l in loops])  # boundary edges, a -> b
    edges, net = np.sort(run, axis=1), np.where(run[:, 0] < run[:, 1], 1, -1)
    Vc, Fc = _cone_caps(at, edges, net)[:2]
    assert len(Fc) == 64 * 15 + 3
    np.testing.assert_array_equal(Vc[:67], at)  # the loops' vertices come first
    # the caps' boundary: every directed edge not cancelled by its reverse, counted as net counts it
    a, b = Fc.reshape(-1), Fc[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key, where = np.unique(lo * len(Vc) + hi, return_inverse=True)
    count = np.bincount(where, weights=np.where(a < b, 1.0, -1.0))
    boundary = key[count != 0]
    np.testing.assert_array_equal(boundary, np.sort(edges[:, 0] * len(Vc) + edges[:, 1]))
    np.testing.assert_array_equal(count[count != 0], net[np.argsort(edges[:, 0] * len(Vc) + edges[:, 1])])
    Q = _queries(300, seed=7, scale=1.3)
    Vc1, Fc1 = _cone_caps(at, edges, net, max_rings=1)[:2]
    assert len(Fc1) == 67
    np.testing.assert_allclose(igl.winding_number(Vc, Fc, Q), igl.winding_number(Vc1, Fc1, Q), atol=1e-9)


def test_barycentric_in_faces_is_the_same_arithmetic():
    """The per-face precomputed barycentric coordinates equal the per-point reference's bit for bit (tier 2
    decides by coordinates under 1e-9), on points inside, on the edges and vertices of, and off the faces of a
    torus, and on a degenerate face."""
    m = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2)
    V = np.concatenate([m.vertices, [[0, 0, 0], [1, 1, 1], [2, 2, 2]]])  # a degenerate face: collinear corners
    F = np.concatenate([m.faces, [[len(m.vertices), len(m.vertices) + 1, len(m.vertices) + 2]]])
    rng = np.random.default_rng(8)
    face = rng.integers(0, len(F), 5000)
    w = rng.dirichlet(np.ones(3), 5000)
    w[:1000] = np.eye(3)[rng.integers(0, 3, 1000)]  # vertices
    w[1000:2000, rng.integers(0, 3)] = 0.0  # edges
    w /= w.sum(1, keepdims=True)
    p = np.einsum("nk,nkd->nd", w, V[F[face]]) + 0.01 * rng.normal(size=(5000, 3)) * (np.arange(5000) >= 4000)[:, None]
    np.testing.assert_array_equal(barycentric_in_faces(V[F])(face, p), _barycentric(V[F[face]], p))


def test_answers_do_not_depend_on_the_order_of_the_queries():
    """SignedDistance takes the points in Z-order (query_order) and puts the answers back: the same bits for
    any order of the points, and in chunks of any size (tiers 1-3 all reached on overlapping boxes)."""
    parts, meshes = _overlapping_boxes()
    m = trimesh.util.concatenate(meshes).subdivide_to_size(0.05)
    V, F = np.asarray(m.vertices), np.asarray(m.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    assert S.use_labels
    Q = _queries(30_000, seed=3)
    expected = S(Q)
    assert 0 < S.last_fallback < 1  # some queries reached tier 3, the others were labelled
    perm = np.random.default_rng(4).permutation(len(Q))
    np.testing.assert_array_equal(S(Q[perm]), expected[perm])
    np.testing.assert_array_equal(S(Q[::-1], chunk=777), expected[::-1])
    assert (np.sign(expected) == np.sign(shape_sdf(parts, Q))).mean() > 0.999


def test_thinness_and_the_choice_of_labels():
    """thinness (sum of longest edges squared over the area) is 4 / sqrt(3) for equilateral triangles, the same
    after midpoint subdivision (which keeps each triangle's shape), and large for long thin faces; labels are
    chosen for a larger share of the queries the thinner the faces, never for more test points than queries."""
    V, F = _sphere_mesh(0.5)  # icosphere: nearly equilateral
    sphere = SignedDistance(V, F, face_labels=False).thinness
    assert 4 / np.sqrt(3) < sphere < 4 / np.sqrt(3) * 1.2  # the icosphere's faces are 14% off equilateral
    V2, F2 = trimesh.remesh.subdivide(V, F)
    assert SignedDistance(V2, F2, face_labels=False).thinness == pytest.approx(sphere, rel=1e-9)
    rod = trimesh.creation.cylinder(radius=0.02, height=1.0, sections=64)  # side faces 1.0 long, 0.002 wide
    thin = SignedDistance(np.asarray(rod.vertices), np.asarray(rod.faces), face_labels=False).thinness
    assert thin > 100 * sphere
    share = lambda t: max(f for f in np.linspace(0, 1, 1001) if labels_pay_off(f * 10**6, 10**6, t))
    shares = [share(t) for t in (sphere, 6.5, 13, 45, 80, thin)]
    assert shares[:2] == [pytest.approx(0.25, abs=2e-3)] * 2  # organic meshes: a quarter, as before
    assert all(a <= b for a, b in zip(shares, shares[1:])) and shares[-1] > 0.5 and shares[-1] < 1


def _knife(thick=2e-5, size=1 / 40):
    """A closed wedge, 1 long and `thick` at its back, its sharp edge along y at x = 0, faces about `size`."""
    P = np.array([[0, 0, 0], [1, 0, thick / 2], [1, 0, -thick / 2], [0, 0.5, 0], [1, 0.5, thick / 2], [1, 0.5, -thick / 2]])
    T = [[0, 2, 1], [3, 4, 5], [0, 1, 4], [0, 4, 3], [0, 3, 5], [0, 5, 2], [1, 2, 5], [1, 5, 4]]
    m = trimesh.Trimesh(P, T, process=False)
    if m.volume < 0:
        m.invert()
    return m.subdivide_to_size(size)


@pytest.mark.parametrize("embree", [True, False])
def test_test_points_beyond_a_fold_are_found_and_evaluated(embree, monkeypatch):
    """Near the sharp edge of a thin wedge the wedge is thinner than the test points' offset, so a point just
    inside a face lies beyond the face opposite (w = 0 on both sides): those points, exactly, are found by the
    casts back to their face (against the exact winding number at every test point), and their w is the
    winding number's, not their region's."""
    monkeypatch.setattr(ray_casts, "USE_EMBREE", embree)
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    box.apply_translation([1.1, 0.25, 0.0])  # a second part, so that the wedge is not the whole mesh
    mesh = trimesh.util.concatenate([_knife(), box])
    S = SignedDistance(np.asarray(mesh.vertices), np.asarray(mesh.faces), queries_hint=10**7)
    assert S.use_labels and S.closed
    w_plus, w_minus, owner = S.side_w
    at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
    exact = igl.winding_number(S.V, S.F, at)
    m = len(owner)
    beyond = np.abs(exact[:m] - exact[m:]) < 0.5  # no jump across the face: one side lies beyond the other face
    assert beyond.sum() > 100
    np.testing.assert_array_equal(S._beyond, beyond)
    # the same whole numbers (the fast winding number is off by up to 0.3 inside the thin wedge)
    np.testing.assert_array_equal(np.round(np.concatenate([w_plus, w_minus])), np.round(exact))


@pytest.mark.parametrize("embree", [True, False])
def test_faces_lying_on_each_other_are_counted_not_evaluated(embree, monkeypatch):
    """A box nested in a corner of another (three faces of each in the same planes, the same way up: k jumps by
    2 across them) and a third box touching the outer one face to face (the other way up: no jump). The casts
    back to the test points meet the face lying on each one's own, or the distance to the faces of other flat
    patches finds it: those points are not taken as beyond a fold, their jump (2 or 0) is known, and their w
    comes from counts of crossings, not from the winding number, and equals the exact winding number's whole
    numbers."""
    monkeypatch.setattr(ray_casts, "USE_EMBREE", embree)
    outer = trimesh.creation.box(bounds=[[0, 0, 0], [1, 1, 1]])
    inner = trimesh.creation.box(bounds=[[0, 0, 0], [0.5, 0.5, 0.5]])
    beside = trimesh.creation.box(bounds=[[1, 0.2, 0.2], [1.4, 0.6, 0.6]])  # on the outer box's face x = 1
    mesh = trimesh.util.concatenate([outer, inner, beside]).subdivide_to_size(0.1)
    evaluated = []
    w_of = SignedDistance._w
    monkeypatch.setattr(SignedDistance, "_w", lambda self, Q: evaluated.append(Q.copy()) or w_of(self, Q))
    S = SignedDistance(np.asarray(mesh.vertices), np.asarray(mesh.faces), queries_hint=10**7)
    assert S.use_labels and S.closed
    pts, owner, _ = S._test_points(S.V[S.F], np.arange(len(S.F)))
    at = S._off(pts, owner)
    beyond, jump, _ = S._beyond_other_faces(pts, owner, at)
    # test points on faces that another lies on, away from that face's rim (where a cast may meet either)
    nested = (np.isclose(pts, 0).any(1) & (pts < 0.5 - 0.02).all(1))
    touching = np.isclose(pts[:, 0], 1) & (np.abs(pts[:, 1:] - 0.4) < 0.2 - 0.02).all(1)
    assert nested.sum() > 100 and touching.sum() > 30
    assert not beyond.any()
    assert np.isin(jump[nested], [1, 2]).all() and np.isin(jump[touching], [0, 1]).all()
    # the face met is either where the nested box's faces join the outer's (one flat patch lying on itself); where
    # two parts touch, the face lying there is found at every test point by its distance (_jump_at)
    assert (jump[nested] == 2).mean() > 0.4 and (jump[touching] == 0).all()
    assert (jump[~nested & ~touching] == 1).mean() > 0.95
    w_plus, w_minus, _ = S.side_w
    exact = igl.winding_number(S.V, S.F, at)
    m = len(owner)
    np.testing.assert_array_equal(np.round(w_plus), np.round(exact[:m]))
    np.testing.assert_array_equal(np.round(w_minus), np.round(exact[m:]))
    # the points whose jump is known were counted, not evaluated (leaving out those at the same place as a test
    # point of the face lying on theirs, whose jump is not known and whose w is evaluated)
    asked = {tuple(p) for Q in evaluated for p in Q}
    _, first, seen = np.unique(at, axis=0, return_index=True, return_counts=True)
    alone = np.zeros(2 * m, dtype=bool)
    alone[first[seen == 1]] = True
    known = np.flatnonzero((nested | touching) & (jump != 1))
    known = np.concatenate([known, m + known])
    known = known[alone[known]]
    assert len(known) > 100 and not any(tuple(p) in asked for p in at[known])


def test_layered_faces_recounted_scene_by_scene_as_with_every_hit(monkeypatch):
    """Segments that meet faces lying on each other (a box nested in a corner of another, a third touching it face
    to face, a leg standing on a seat) are recounted by walks through LayerScenes, a scene per colour, where no two
    faces that lie on each other share a colour: the counts equal libigl's every-hit recount and the exact winding
    number's difference between the segments' ends, and libigl is asked about none of the easy segments."""
    outer = trimesh.creation.box(bounds=[[0, 0, 0], [1, 1, 1]])
    inner = trimesh.creation.box(bounds=[[0, 0, 0], [0.5, 0.5, 0.5]])
    beside = trimesh.creation.box(bounds=[[1, 0.2, 0.2], [1.4, 0.6, 0.6]])
    seat = trimesh.creation.box(bounds=[[-1, 1.2, -1], [0, 1.4, 0]])
    leg = trimesh.creation.box(bounds=[[-0.6, 0.8, -0.6], [-0.5, 1.2, -0.5]])  # its top on the seat's bottom
    mesh = trimesh.util.concatenate([outer, inner, beside, seat, leg]).subdivide_to_size(0.1)
    S = SignedDistance(np.asarray(mesh.vertices), np.asarray(mesh.faces), queries_hint=10**7)
    assert S.use_labels and S.closed and S.layered.sum() > 100
    scenes = S._layer_scenes(S.layered, 10**6)
    assert scenes is not None and len(scenes.parts) >= 2 and scenes.odd is not None  # the corner's patch folds
    # no two faces of one scene lie on each other: none has its centroid inside another face in its plane, while
    # every face lying on another of the whole mesh does (the nested box's, the touching ones')
    def lying(tri):
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.linalg.norm(n, axis=1)[:, None]
        c = np.einsum("nd,nd->n", n, tri[:, 0])
        i, j = np.meshgrid(np.arange(len(tri)), np.arange(len(tri)), indexing="ij")
        i, j = i[i != j], j[i != j]
        coplanar = (np.abs(np.abs(np.einsum("nd,nd->n", n[i], n[j])) - 1) < 1e-9) & (np.abs(np.abs(c[i]) - np.abs(c[j])) < 1e-9)
        i, j = i[coplanar], j[coplanar]
        return np.unique(i[(_barycentric(tri[j], tri[i].mean(1)) > 1e-6).all(1)])
    assert len(lying(S.V[S.F[S.layered]])) > 100
    for rays, _ in scenes.parts:
        assert len(lying(rays.V[rays.F])) == 0
    rng = np.random.default_rng(7)
    Q = rng.uniform([-1.1, -0.1, -1.1], [1.5, 1.5, 1.1], size=(6000, 3))
    f = rng.choice(np.flatnonzero(S.layered), size=6000)  # ends just off a layered face, on either side
    P = S.V[S.F[f]].mean(1) + S.normals[f] * rng.choice([-0.05, 0.05], size=(6000, 1))
    d = P - Q
    asked = []
    all_hits = Rays.all_hits
    monkeypatch.setattr(Rays, "all_hits", lambda self, o, dd, max_t=1.0: asked.append(len(o)) or all_hits(self, o, dd, max_t))
    by_scenes, unsure_scenes = ray_casts._crossings(S.rays, S.normals, Q, d, 64, S.layered, lambda n: scenes)
    _, _, _, walk_unsure, met = ray_casts._walk_counts(S.rays, S.normals, Q, d, 64, S.layered)
    # libigl only where the walks cannot settle it: two hits too close, or a face of the patch lying on itself met
    odd = scenes.odd.first_hits(Q, d, 1.0 + 1e-3)[0] >= 0
    assert sum(asked) == (met & (walk_unsure | odd)).sum() and (met & ~walk_unsure & ~odd).sum() > 500
    asked.clear()
    by_every_hit, unsure_every = ray_casts._crossings(S.rays, S.normals, Q, d, 64, S.layered)
    assert sum(asked) == met.sum()
    ok = ~unsure_scenes & ~unsure_every
    assert ok.mean() > 0.99
    np.testing.assert_array_equal(by_scenes[ok], by_every_hit[ok])
    exact = igl.winding_number(S.V, S.F, np.concatenate([Q, P]))
    np.testing.assert_array_equal(by_scenes[ok], np.round(exact[:6000] - exact[6000:])[ok])


@pytest.mark.parametrize("embree", [True, False])
def test_k_counted_from_outside_the_box_is_the_winding_number(embree, monkeypatch):
    """k = w - w_caps counted along a segment out of the box of the mesh and its caps (_outside_k, where the
    anchors of the thin-faced meshes' regions take k instead of w) equals the exact winding number's, on a box
    with a hole holding another box, a bar through both standing on the inner box's top, and an open sheet: at
    points anywhere around them and at points lying in the planes of the bar's faces and on the lines of its
    edges, which segments along an axis would graze. Counts may be refused, and rarely are."""
    monkeypatch.setattr(ray_casts, "USE_EMBREE", embree)
    outer = trimesh.creation.box(extents=(1.0, 1.0, 1.0)).subdivide_to_size(0.25)
    centres = outer.triangles_center
    outer.update_faces(~((centres[:, 2] > 0.49) & (np.abs(centres[:, :2]).max(1) < 0.2)))  # a hole in the top
    inner = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    bar = trimesh.creation.box(extents=(1.6, 0.1, 0.1))
    bar.apply_translation([0.0, 0.15, 0.25])  # faces in z = 0.2 (the inner box's top) and 0.3, y = 0.1 and 0.2
    mesh = trimesh.util.concatenate([outer, inner, bar, _open_sheet()])
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    S = SignedDistance(V, F, queries_hint=10**7)
    assert S.use_labels and not S.closed and S.layered.any()
    rng = np.random.default_rng(7)
    Q = _queries(3000, seed=8, scale=1.1)
    on_planes = rng.uniform(-0.9, 0.9, size=(2000, 3))
    on_planes[:1000, 1] = rng.choice([0.1, 0.2], 1000)  # in the bar's side planes
    on_planes[1000:, 1] = rng.choice([0.1, 0.2], 1000)  # on the lines of its long edges
    on_planes[1000:, 2] = rng.choice([0.2, 0.3], 1000)
    Q = np.concatenate([Q, on_planes])
    Q = Q[unsigned_distance(S.V, S.F, Q)[0] > 1e-3]  # off the surface, where w is a whole number plus w_caps
    k, unsure = S._outside_k(Q, S.layered)
    truth = igl.winding_number(S.V, S.F, Q) - igl.winding_number(*S.caps[:2], Q)  # exact, mesh and caps
    assert np.abs(truth - np.round(truth)).max() < 1e-6
    np.testing.assert_array_equal(k[~unsure], np.round(truth)[~unsure])
    assert unsure.mean() < 0.01
    assert set(np.round(truth).astype(int)) >= {0, 1, 2}  # outside, inside one part, inside two


def test_region_anchors_counted_from_outside_else_evaluated(monkeypatch):
    """Where w is dear (COUNT_PROBES_ABOVE), the regions' anchors take k by counting from outside the box: on a
    box nested in another with a bar through both, no test point needs the winding number, and w at every test
    point equals w evaluated there; with every count from outside refused, the anchors are evaluated instead and
    the answers are the same."""
    monkeypatch.setattr(signed_distance, "COUNT_PROBES_ABOVE", -1.0)
    outer = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    inner = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    bar = trimesh.creation.box(extents=(1.6, 0.1, 0.1))
    bar.apply_translation([0.013, 0.33, 0.021])  # its faces and edges off the other boxes' edges
    mesh = trimesh.util.concatenate([outer, inner, bar]).subdivide_to_size(0.1)
    V, F = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    Q = _queries(20_000, seed=9)
    answers = []
    for refused in (False, True):
        if refused:
            monkeypatch.setattr(SignedDistance, "_outside_k",
                                lambda self, Q, *a, **kw: (np.zeros(len(Q)), np.ones(len(Q), dtype=bool)))
        S = SignedDistance(V, F, queries_hint=10**7)
        assert S.use_labels and S.closed
        assert (S.winding_evaluated == 0.0) != refused
        w_plus, w_minus, owner = S.side_w
        at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
        np.testing.assert_allclose(np.concatenate([w_plus, w_minus]), igl.winding_number(S.V, S.F, at), atol=0.05)
        answers.append(S(Q))
    np.testing.assert_array_equal(answers[0], answers[1])
    d, _, _ = unsigned_distance(V, F, Q)
    np.testing.assert_array_equal(answers[0], np.where(np.abs(winding_number(S.V, S.F, Q)) > 0.5, -d, d))


def test_turned_faces_keep_their_edges_and_pairs():
    """Turning faces over (F[:, ::-1], as the orientation repair does) permutes each turned face's edge ids as
    turned_edge_of says and leaves _face_pairs as they were, so both are computed once, before the repair."""
    from source.mesh_topology import _edges, _face_pairs, turned_edge_of

    mesh = trimesh.creation.icosphere(subdivisions=2)
    F = np.asarray(mesh.faces)
    F = np.concatenate([F, F[:5], [[0, 1, 0]]])  # faces repeated (non-manifold edges) and a degenerate one
    turned = np.random.default_rng(1).random(len(F)) < 0.4
    F2 = np.where(turned[:, None], F[:, ::-1], F)
    edges, edge_of, count = _edges(F)
    edges2, edge_of2, count2 = _edges(F2)
    np.testing.assert_array_equal(edges2, edges)
    np.testing.assert_array_equal(count2, count)
    np.testing.assert_array_equal(turned_edge_of(edge_of, turned), edge_of2)
    for a, b in zip(_face_pairs(edge_of), _face_pairs(edge_of2)):
        np.testing.assert_array_equal(a, b)
    V = np.asarray(mesh.vertices)
    np.testing.assert_array_equal(orient_components(V, F2, edges=(edges2, edge_of2, count2),
                                                    pairs=_face_pairs(edge_of)), orient_components(V, F2))


def test_slivers_tilted_by_rounding_are_one_flat_patch():
    """A pyramid 1 tall whose square base, 0.01 wide, is a fan of 600 slivers from one corner to points 3.3e-5 apart
    along the two far edges (the sides over those edges fans from the apex to the same points), the points moved
    off the base's plane by up to 5e-9, as coordinates rounded to 8 decimals move them (the embedded chair_002): the slivers' normals tilt against each other by more
    than FLAT_TILT, yet every face of the base lies within FLAT_DIST of its neighbours' planes, so the base is one
    flat patch and no face counts as lying in another patch's plane. Two faces meeting at 0.3 degrees along an
    edge (Table13's tilt) stay two patches. w at the test points is the exact winding number's."""
    n = 300
    t = np.linspace(0.0, 1.0, n + 1)
    far = np.concatenate([np.stack([np.ones(n + 1), t], 1), np.stack([t[::-1], np.ones(n + 1)], 1)[1:]])  # (2n+1, 2)
    base = np.concatenate([[[0.0, 0.0, 0.0]], np.concatenate([0.01 * far, np.zeros((2 * n + 1, 1))], 1),
                           [[0.005, 0.005, 1.0]]])
    base[1:-1, 2] += np.random.default_rng(2).uniform(-5e-9, 5e-9, 2 * n + 1)  # off the plane, as rounding moves them
    apex, m = len(base) - 1, 2 * n + 1
    fan = np.stack([np.zeros(m - 1, dtype=int), np.arange(2, m + 1), np.arange(1, m)], 1)  # the base, facing -z
    sides = np.stack([np.full(m - 1, apex), np.arange(1, m), np.arange(2, m + 1)], 1)  # over the two far edges
    near = np.array([[apex, 0, 1], [apex, m, 0]])  # over the two edges from the corner
    F = np.concatenate([fan, sides, near])
    rot = trimesh.transformations.rotation_matrix(0.7, [1.0, 2.0, 0.5])[:3, :3]
    for V in (base, base @ rot.T):  # as built, and turned by an odd angle
        S = SignedDistance(V, F, queries_hint=10**7)
        assert S.use_labels and S.closed
        patch, _ = S._flat_patches()
        in_base = np.arange(len(F)) < m - 1
        tilt = np.abs(S.normals[S._pairs[0]] - S.normals[S._pairs[1]]).max(1)
        both = in_base[S._pairs[0]] & in_base[S._pairs[1]]
        assert tilt[both].max() > signed_distance.FLAT_TILT
        assert len(np.unique(patch[in_base])) == 1 and not S._lying.any()
        # w at the test points, but those beyond another face (near the needle's tip, thinner than the offset),
        # which take the fast winding number: it is off there, with the labels or without
        w_plus, w_minus, owner = S.side_w
        at = S._off(*S._test_points(S.V[S.F], np.arange(len(S.F)))[:2])
        keep = np.tile(~S._beyond, 2)
        assert keep.mean() > 0.95
        np.testing.assert_array_equal(np.round(np.concatenate([w_plus, w_minus])[keep]),
                                      np.round(igl.winding_number(S.V, S.F, at[keep])))
    # two faces 0.01 wide meeting at 0.3 degrees: the far corner 5e-5 off the other's plane
    a = np.radians(0.3)
    V = np.array([[0, 0, 0], [0, 0.01, 0], [-0.01, 0.005, 0], [0.01 * np.cos(a), 0.005, 0.01 * np.sin(a)],
                  [0.0, 0.005, 1.0]])  # and a far apex, closing a tetrahedron-like solid
    F = np.array([[0, 1, 2], [1, 0, 3], [0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4]])
    S = SignedDistance(V, F, queries_hint=10**7)
    patch, _ = S._flat_patches()
    assert patch[0] != patch[1]
