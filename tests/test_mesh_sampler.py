"""MeshSampler: DeepSDF's distribution and file layout, trust, bad files, resume, analytic truth."""
import numpy as np
import pytest
import trimesh

from source import paths
from source.mesh_io import BUFFER, MeshError, load_mesh
from source.mesh_sampler import Job, MeshSampler, UntrustedMesh, sample_dataset
from source.shape_families import FAMILIES, make_shape, shape_mesh, shape_sdf


def _write_sphere(path, r=0.3, center=(1.0, 2.0, 3.0)):
    m = trimesh.creation.icosphere(subdivisions=3, radius=r)
    m.apply_translation(center)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.export(path)
    return path


def test_npz_layout_and_normalization(tmp_path):
    mesh = _write_sphere(tmp_path / "in" / "ball.obj")
    sampler = MeshSampler(num_samples=20_000, surface_samples=2_000)
    sampler.process_file(mesh, tmp_path, "ds", "cls", "ball")
    s = np.load(paths.sdf_samples(tmp_path, "ds", "cls", "ball"))
    assert sorted(s.files) == ["neg", "pos"]
    for k in ("pos", "neg"):
        assert s[k].dtype == np.float32 and s[k].ndim == 2 and s[k].shape[1] == 4
    assert (s["pos"][:, 3] >= 0).all() and (s["neg"][:, 3] < 0).all()
    assert len(s["pos"]) + len(s["neg"]) == 20_000
    # DeepSDF's normalisation: centre at the bbox middle, farthest vertex at 1/1.03
    n = np.load(paths.normalization(tmp_path, "ds", "cls", "ball"))
    V, _ = load_mesh(mesh)
    Vn = (V + n["offset"]) * n["scale"]
    assert np.isclose(np.linalg.norm(Vn, axis=1).max(), 1 / BUFFER)
    np.testing.assert_allclose((Vn.max(0) + Vn.min(0)) / 2, 0, atol=1e-12)
    # the samples of a sphere: sdf = |p| - radius (normalised radius 1/1.03), up to faceting
    P = np.concatenate([s["pos"], s["neg"]])
    np.testing.assert_allclose(P[:, 3], np.linalg.norm(P[:, :3], axis=1) - 1 / BUFFER, atol=0.01)
    surf = trimesh.load(paths.surface_samples(tmp_path, "ds", "cls", "ball")).vertices
    assert len(surf) == 2_000 and np.abs(np.linalg.norm(surf, axis=1) - 1 / BUFFER).max() < 0.01


def test_distribution_matches_deepsdf():
    V, F = trimesh.creation.icosphere(3, 0.5).vertices, trimesh.creation.icosphere(3, 0.5).faces
    Q = MeshSampler(num_samples=50_000).sample_points(np.asarray(V), np.asarray(F), np.random.default_rng(0))
    assert Q.shape == (50_000, 3)
    uniform, near = Q[-3_000:], Q[:-3_000]  # 3/50 uniform in the cube, 47/50 near the surface
    assert np.abs(uniform).max() <= 1 and np.abs(uniform).mean() > 0.45
    r = np.linalg.norm(near, axis=1) - 0.5
    # two halves perturbed with variance 0.005 and 0.0005 (radial std ~ sqrt of those)
    assert np.isclose(r[:23_500].std(), np.sqrt(0.005), rtol=0.1)
    assert np.isclose(r[23_500:].std(), np.sqrt(0.0005), rtol=0.1)


@pytest.mark.parametrize("family", list(FAMILIES.values()))
def test_sign_against_analytic_truth(family):
    """Embedded CAD-like shapes (overlaps, flipped parts, holes): 99.9% of signs, 99% near the surface."""
    right, band_right, band_n, n = 0, 0, 0, 0
    for seed in range(3):
        parts = make_shape(family, seed)
        m = shape_mesh(parts, np.random.default_rng(seed + 1))
        out = MeshSampler(num_samples=20_000, surface_samples=100, seed=seed).sample_mesh(
            np.asarray(m.vertices), np.asarray(m.faces))
        S = np.concatenate([out["pos"], out["neg"]]).astype(np.float64)
        truth = shape_sdf(parts, S[:, :3] / out["scale"] - out["offset"]) * out["scale"]
        ok = np.sign(truth) == np.sign(S[:, 3])
        band = np.abs(truth) < 0.01
        right, n, band_right, band_n = right + ok.sum(), n + len(ok), band_right + ok[band].sum(), band_n + band.sum()
    assert right / n >= 0.999
    assert band_right / band_n >= 0.99


def test_open_sheet_rejected_and_kept_on_request():
    sheet = trimesh.creation.box(extents=(1, 1, 0.2))
    sheet.update_faces(sheet.face_normals[:, 2] > 0.5)
    V, F = np.asarray(sheet.vertices), np.asarray(sheet.faces)
    with pytest.raises(UntrustedMesh, match="open surface"):
        MeshSampler(num_samples=5_000).sample_mesh(V, F, name="sheet.obj")
    out = MeshSampler(num_samples=5_000, keep_untrusted=True).sample_mesh(V, F)
    assert out["stats"]["untrusted"].startswith("open surface")


def _box_with_cancelling_back(extents=(0.6, 0.4, 1.0)):
    """A box stored twice on the same 8 vertices, the second copy reversed and split along the other
    diagonal of each side: no twin faces to drop, one part whose volume is 0, w = 0 everywhere."""
    box = trimesh.creation.box(extents=extents)
    V, F = np.asarray(box.vertices), np.asarray(box.faces)
    back = []
    for n in np.unique(np.round(box.face_normals, 6), axis=0):
        tris = F[np.all(np.round(box.face_normals, 6) == n, axis=1)]  # the 2 triangles of this side
        q = np.unique(tris)
        c = V[q].mean(0)
        u = V[q[0]] - c
        ang = np.arctan2(np.cross(u, V[q] - c) @ n, (V[q] - c) @ u)
        q = q[np.argsort(ang)]  # the 4 corners counter-clockwise seen from outside
        used = {frozenset(e) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
        if frozenset((q[0], q[2])) in used:  # split along the other diagonal
            q = np.roll(q, 1)
        back += [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
    return V, np.concatenate([F, np.asarray(back)[:, ::-1]])


def test_sides_that_cancel_are_rejected():
    V, F = _box_with_cancelling_back()
    with pytest.raises(UntrustedMesh, match="no inside: 0.00% of the near-surface samples"):
        MeshSampler(num_samples=4000, surface_samples=10).sample_mesh(V, F, name="cancel.obj")
    out = MeshSampler(num_samples=4000, surface_samples=10, keep_untrusted=True).sample_mesh(V, F)
    assert out["stats"]["untrusted"].startswith("no inside") and len(out["neg"]) == 0
    # the box stored once is trusted, with a solid's share of samples inside
    out = MeshSampler(num_samples=4000, surface_samples=10).sample_mesh(V, F[:12])
    assert out["stats"]["untrusted"] is None and 0.2 < out["stats"]["inside_share"] < 0.6


def test_bad_files_give_one_line_errors(tmp_path):
    (tmp_path / "empty.obj").write_text("")
    (tmp_path / "corrupt.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 99\n\x00\x01garbage")
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")
    for name, what in (("empty.obj", "empty file"), ("corrupt.ply", "cannot be read"), ("flat.obj", "degenerate"),
                       ("missing.obj", "no such file")):
        with pytest.raises(MeshError) as e:
            load_mesh(tmp_path / name)
        assert name in str(e.value) and what in str(e.value) and "\n" not in str(e.value)


def test_batch_goes_on_and_resumes(tmp_path):
    src = tmp_path / "src"
    good = [_write_sphere(src / f"s{i}.obj", r=0.2 + 0.1 * i) for i in range(3)]
    (src / "empty.obj").write_text("")
    (src / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    jobs = [Job(p, "ds", "c", p.stem) for p in good + [src / "empty.obj", src / "bad.off"]]
    sampler = MeshSampler(num_samples=5_000, surface_samples=100)
    # "interrupted" run: only the first mesh got done; a stray temporary file is left behind
    sample_dataset(sampler, jobs[:1], tmp_path, progress=False, log=lambda s: None)
    stray = paths.sdf_samples(tmp_path, "ds", "c", "s1").parent / ".s1.abc.tmp.npz"
    stray.write_bytes(b"partial")
    first = paths.sdf_samples(tmp_path, "ds", "c", "s0").stat().st_mtime_ns
    summary = sample_dataset(sampler, jobs, tmp_path, workers=2, progress=False, log=lambda s: None)
    assert summary["already_done"] == 1
    assert sorted(e["instance"] for e in summary["done"]) == ["s1", "s2"]
    assert sorted(e["instance"] for e in summary["failed"]) == ["bad", "empty"]
    assert all(e["reason"].count("\n") == 0 for e in summary["failed"])
    assert paths.sdf_samples(tmp_path, "ds", "c", "s0").stat().st_mtime_ns == first  # not redone
    assert all(paths.sdf_samples(tmp_path, "ds", "c", f"s{i}").exists() for i in range(3))
