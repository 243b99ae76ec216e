"""DeepSDF's virtual-scan sign rule: the rasteriser against ray casting and analytic boxes, the vote against
analytic shapes, and the original's trust statistics on flipped faces and open sheets."""
import numpy as np
import pytest
import trimesh

from source.mesh_sampler import MeshSampler, UntrustedMesh
from source.shape_families import FAMILIES, make_shape, shape_mesh, shape_sdf
from source.virtual_scan import VirtualScan, camera_basis, render_view, sphere_directions

VIEWS, RES = 40, 160  # smaller than the original's 100 x 400^2, enough for these shapes


def _pixel_centres(res):
    c = -1 + (np.arange(res) + 0.5) * 2 / res
    A, B = np.meshgrid(c, c, indexing="ij")
    return A.reshape(-1), B.reshape(-1)


def test_render_box_is_exact():
    m = trimesh.creation.box(extents=(0.6, 0.8, 1.0))  # half sizes 0.3, 0.4, 0.5
    tri, depth, points = render_view(np.asarray(m.vertices), np.asarray(m.faces), [0, 0, 1], 100)
    d, u, v = camera_basis([0, 0, 1])
    a, b = _pixel_centres(100)
    x, y = a * u[0] + b * v[0], a * u[1] + b * v[1]  # the pixel centres in world x, y
    inside = (np.abs(x) < 0.3) & (np.abs(y) < 0.4)
    np.testing.assert_array_equal(tri >= 0, inside)
    np.testing.assert_allclose(depth[inside], -0.5, atol=1e-12)  # the face nearest the camera, z = -0.5
    np.testing.assert_allclose(points[:, 2], -0.5, atol=1e-12)
    assert (m.face_normals[tri[inside], 2] < -0.99).all()


def test_render_matches_ray_casting():
    """Reference: trimesh's ray casting through the same pixel centres."""
    m = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2, major_sections=48, minor_sections=24)
    direction = [0.3, -0.5, 0.8]
    tri, depth, points = render_view(np.asarray(m.vertices), np.asarray(m.faces), direction, 120)
    d, u, v = camera_basis(direction)
    a, b = _pixel_centres(120)
    origins = -3 * d + a[:, None] * u + b[:, None] * v
    loc, ray, face = m.ray.intersects_location(origins, np.tile(d, (len(origins), 1)), multiple_hits=False)
    ref = np.full(len(origins), -1)
    ref[ray] = face
    assert ((ref >= 0) == (tri >= 0)).mean() > 0.999  # pixel centres exactly on an edge may differ
    both = (ref >= 0) & (tri >= 0)
    ref_depth = np.full(len(origins), np.nan)
    ref_depth[ray] = (loc - origins[ray]) @ d - 3
    np.testing.assert_allclose(depth[both], ref_depth[both], atol=1e-9)


def test_sphere_directions_are_unit_and_spread():
    D = sphere_directions(100)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)
    assert np.linalg.norm(D.mean(0)) < 0.02
    nearest = np.sort(np.linalg.norm(D[:, None] - D[None], axis=2), axis=1)[:, 1]
    assert nearest.min() > 0.5 * nearest.mean()  # no clumps


def _sphere(r=0.6, flip=0.0):
    m = trimesh.creation.icosphere(subdivisions=4, radius=r)
    F = np.asarray(m.faces).copy()
    flipped = np.random.default_rng(1).random(len(F)) < flip
    F[flipped] = F[flipped][:, ::-1]
    return np.asarray(m.vertices), F


def test_sphere_sign_and_distance():
    V, F = _sphere(0.6)
    scan = VirtualScan(V, F, VIEWS, RES)
    assert scan.wrong_observations == 0 and scan.bad_triangles == 0 and scan.untrusted_reason() is None
    Q = np.random.default_rng(0).uniform(-1, 1, (20_000, 3))
    sdf, kept = scan.signed_distance(Q)
    truth = np.linalg.norm(Q, axis=1) - 0.6
    assert kept.mean() > 0.99
    clear = kept & (np.abs(truth) > 0.01)
    assert (np.sign(sdf[clear]) == np.sign(truth[clear])).all()
    # distance to scanned points: within the faceting plus about a pixel of the true distance
    assert np.abs(sdf[kept] - truth[kept]).max() < 0.02


def test_flipped_faces_are_counted_but_signs_stay_right():
    """The normals are turned towards the camera, so flipped faces do not change the vote."""
    V, F = _sphere(0.6, flip=0.1)
    scan = VirtualScan(V, F, VIEWS, RES)
    assert 0.07 < scan.wrong_observations < 0.13
    assert "from behind" in scan.untrusted_reason()
    Q = np.random.default_rng(0).uniform(-1, 1, (20_000, 3))
    sdf, kept = scan.signed_distance(Q)
    truth = np.linalg.norm(Q, axis=1) - 0.6
    clear = kept & (np.abs(truth) > 0.01)
    assert (np.sign(sdf[clear]) == np.sign(truth[clear])).all()


def test_open_sheet_is_rejected():
    sheet = trimesh.creation.box(extents=(1, 1, 0.2))
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)
    V, F = np.asarray(sheet.vertices), np.asarray(sheet.faces)
    scan = VirtualScan(V, F, VIEWS, RES)
    assert scan.bad_triangles == 1.0
    assert "seen from both sides" in scan.untrusted_reason()
    with pytest.raises(UntrustedMesh, match="sheet.obj: .*seen from both sides"):
        MeshSampler(num_samples=2_000, sign="deepsdf", scan_views=VIEWS, scan_resolution=RES).sample_mesh(
            V, F, name="sheet.obj")


def test_overlapping_boxes_without_union():
    parts = [{"type": "box", "center": [0, 0, 0], "half": [0.5, 0.1, 0.3]},
             {"type": "box", "center": [0.3, 0.2, 0], "half": [0.1, 0.4, 0.1]}]
    meshes = []
    for p in parts:
        b = trimesh.creation.box(extents=2 * np.asarray(p["half"]))
        b.apply_translation(p["center"])
        meshes.append(b)
    m = trimesh.util.concatenate(meshes)  # internal faces stay
    scan = VirtualScan(np.asarray(m.vertices), np.asarray(m.faces), VIEWS, RES)
    assert scan.untrusted_reason() is None
    Q = np.random.default_rng(0).uniform(-1, 1, (20_000, 3))
    sdf, kept = scan.signed_distance(Q)
    truth = shape_sdf(parts, Q)
    clear = kept & (np.abs(truth) > 0.02)
    assert (np.sign(sdf[clear]) == np.sign(truth[clear])).mean() > 0.999


def test_sampler_with_deepsdf_sign_on_an_embedded_shape():
    parts = make_shape(FAMILIES["03001627"], 0)
    m = shape_mesh(parts, np.random.default_rng(1))
    sampler = MeshSampler(num_samples=20_000, surface_samples=100, sign="deepsdf", scan_views=VIEWS,
                          scan_resolution=RES, keep_untrusted=True)
    out = sampler.sample_mesh(np.asarray(m.vertices), np.asarray(m.faces))
    S = np.concatenate([out["pos"], out["neg"]]).astype(np.float64)
    assert out["pos"].dtype == np.float32 and out["pos"].shape[1] == 4
    assert (out["pos"][:, 3] >= 0).all() and (out["neg"][:, 3] < 0).all()
    # non-unanimous points are dropped, as in the original
    assert len(S) == round(20_000 * (1 - out["stats"]["dropped"]))
    assert 0 <= out["stats"]["dropped"] < 0.1
    truth = shape_sdf(parts, S[:, :3] / out["scale"] - out["offset"]) * out["scale"]
    clear = np.abs(truth) > 0.01
    assert (np.sign(truth[clear]) == np.sign(S[clear, 3])).mean() > 0.99
