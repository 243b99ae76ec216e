"""Marching cubes grid, coarse-to-fine extraction, batched reconstruction, shape completion, metrics, and
the scripts end to end."""
import csv
import itertools
import json

import numpy as np
import pytest
import torch
import trimesh

import evaluate
import reconstruct
import train
from source import counter_random, metrics, paths
from source.deep_sdf import Decoder
from source.deep_sdf_reconstructor import DeepSDFReconstructor, ShapeSamples, _SamplePool
from source.depth_view import partial_samples
from source.deep_sdf_trainer import DeepSDFTrainer
from source.meshing import NoSurface, coarse_to_fine_grid, decoder_field, extract_mesh, grid_points, marching_cubes
from tests.sdf_fixtures import DEVICES, sphere_samples, tiny_specs, write_experiment, write_spheres


def sphere_field(c=(0.1, -0.05, 0.02), r=0.5):
    return lambda p: np.linalg.norm(p - np.array(c), axis=1) - r


# ----------------------------------------------------------------------------- meshes
def test_grid_corners_are_exactly_plus_minus_one():
    g = grid_points(5)
    assert g[0].tolist() == [-1, -1, -1] and g[-1].tolist() == [1, 1, 1]
    assert np.allclose(np.unique(g[:, 0]), [-1, -0.5, 0, 0.5, 1])


@pytest.mark.parametrize("res", [32, 65])
def test_sphere_radius_within_half_a_voxel(res):
    c, r = np.array([0.1, -0.05, 0.02]), 0.5
    V, F = extract_mesh(sphere_field(c, r), res, "dense")
    err = np.abs(np.linalg.norm(V - c, axis=1) - r)
    assert err.max() < 0.5 * 2 / (res - 1)
    # an off-centre box's extent lands where it should (a shifted grid would move it)
    box = lambda p: np.max(np.abs(p - [0.2, 0.0, 0.0]) - [0.3, 0.4, 0.5], axis=1)
    V, _ = extract_mesh(box, res, "dense")
    assert np.allclose(V.min(0), [-0.1, -0.4, -0.5], atol=1e-6) and np.allclose(V.max(0), [0.5, 0.4, 0.5], atol=1e-6)


def _same_mesh(a, b):
    A = np.unique(np.round(a[0], 6), axis=0)
    B = np.unique(np.round(b[0], 6), axis=0)
    return A.shape == B.shape and np.allclose(A, B, atol=1e-6) and len(a[1]) == len(b[1])


def test_coarse_to_fine_equals_dense_on_a_torus_and_a_network():
    torus = lambda p: np.hypot(np.hypot(p[:, 0], p[:, 2]) - 0.5, p[:, 1]) - 0.15
    assert _same_mesh(extract_mesh(torus, 97, "dense"), extract_mesh(torus, 97, "coarse"))
    _, _, n = coarse_to_fine_grid(torus, 97)
    assert n < 97 ** 3 / 3
    torch.manual_seed(0)
    d = Decoder(3, dims=[32, 32, 32], latent_in=[2]).eval()
    with torch.no_grad():  # bias the output so that a surface exists: sdf ~ |x| - 0.5 + network
        d.layers[-1].bias.fill_(-0.5)
    net = decoder_field(d, torch.zeros(3))
    field = lambda p: net(p) + np.linalg.norm(p, axis=1) * 1.0
    dense, coarse = extract_mesh(field, 64, "dense"), extract_mesh(field, 64, "coarse")
    assert len(dense[1]) > 100 and _same_mesh(dense, coarse)
    assert metrics.chamfer(dense[0], coarse[0]) < 1e-6


@pytest.mark.parametrize("margin", [1.0, 2.0])
def test_coarse_to_fine_mask_lets_through_exactly_evaluated_cells(margin):
    # marching cubes reads the cells the mask lets through (scikit-image names a cell by its highest
    # corner): each must have all 8 corners evaluated, and every cell the surface crosses must be one
    torus = lambda p: np.hypot(np.hypot(p[:, 0], p[:, 2]) - 0.5, p[:, 1]) - 0.15
    r = 65
    values, mask, _ = coarse_to_fine_grid(torus, r, margin=margin)
    known = ~np.isnan(values)
    dense = torus(grid_points(r)).reshape(r, r, r)
    corners = [known[a:r - 1 + a, b:r - 1 + b, c:r - 1 + c] for a, b, c in itertools.product((0, 1), repeat=3)]
    through = mask[1:, 1:, 1:]  # through[i, j, k]: the cell from (i, j, k) to (i+1, j+1, k+1)
    assert np.all(np.logical_and.reduce(corners)[through])
    dense_corners = [dense[a:r - 1 + a, b:r - 1 + b, c:r - 1 + c] for a, b, c in itertools.product((0, 1), repeat=3)]
    crossed = (np.minimum.reduce(dense_corners) <= 0) & (np.maximum.reduce(dense_corners) >= 0)
    assert crossed.sum() > 1000 and np.all(through[crossed])
    assert not mask[0].any() and not mask[:, 0].any() and not mask[:, :, 0].any()  # no cell below index 0
    # and scikit-image reads the mask that way: the dense grid through this mask is the dense mesh
    assert _same_mesh(marching_cubes(dense, mask=mask), marching_cubes(dense))


def test_no_zero_crossing_is_a_clear_error():
    for method in ("dense", "coarse"):
        with pytest.raises(NoSurface, match="no zero crossing"):
            extract_mesh(lambda p: np.full(len(p), 0.3), 16, method)


# ----------------------------------------------------------------------------- metrics
def test_chamfer_against_brute_force_and_concentric_spheres():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(45, 3))
    D = np.linalg.norm(a[:, None] - b[None], axis=-1)
    assert metrics.chamfer(a, b) == pytest.approx(np.mean(D.min(1) ** 2) + np.mean(D.min(0) ** 2))
    u = rng.normal(size=(2000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert metrics.chamfer(0.5 * u, 0.52 * u) == pytest.approx(2 * 0.02 ** 2)


def test_emd_fscore_normals_against_references():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    best = min(np.mean(np.linalg.norm(a - b[list(p)], axis=1)) for p in itertools.permutations(range(6)))
    assert metrics.earth_movers(a, b, n=6) == pytest.approx(best)
    a, b = rng.uniform(size=(50, 3)), rng.uniform(size=(40, 3))
    D = np.linalg.norm(a[:, None] - b[None], axis=-1)
    p, r = np.mean(D.min(1) < 0.2), np.mean(D.min(0) < 0.2)
    assert metrics.f_score(a, b, 0.2) == pytest.approx((2 * p * r / (p + r), p, r))
    sphere = trimesh.creation.icosphere(3)
    pts, n = metrics.sample_surface(sphere.vertices, sphere.faces, 3000)
    assert metrics.normal_consistency(pts, n, pts * 1.01, -n) > 0.99  # orientation ignored


# ----------------------------------------------------------------------------- reconstruction
def _shapes():
    return [ShapeSamples.from_pos_neg(*sphere_samples(r, seed=k)) for k, r in enumerate([0.3, 0.45, 0.6])]


@pytest.mark.parametrize("device", DEVICES)
def test_batched_equals_one_at_a_time(device):
    torch.manual_seed(0)
    d = Decoder(4, dims=[32, 32, 32], latent_in=[2], norm_layers=[0, 1, 2], weight_norm=True).to(device)
    rec = DeepSDFReconstructor(d, 4, iterations=30, samples_per_iteration=256, seed=7, device=device)
    shapes = _shapes()
    together = rec.reconstruct(shapes, shape_seeds=[7, 8, 9])
    alone = torch.cat([rec.reconstruct([s], shape_seeds=[seed]) for s, seed in zip(shapes, [7, 8, 9])])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)
    rec.samples_per_pass = 512  # decoder passes of 2 shapes, then 1
    torch.testing.assert_close(rec.reconstruct(shapes, shape_seeds=[7, 8, 9]), together, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_counter_random_is_uniform_and_independent_of_the_batch():
    keys = counter_random.keys_from_seeds([0, 1, 2, 12345678901])
    u = counter_random.uniform(keys, 3, 200_000)  # (4, 200000)
    assert u.dtype == torch.float32 and u.min() >= 0 and u.max() < 1
    counts = torch.histc(u, bins=50, min=0, max=1) / u.numel() * 50  # 16,000 per bin expected
    assert (counts - 1).abs().max() < 0.04
    assert (torch.corrcoef(u) - torch.eye(4)).abs().max() < 0.01  # keys' streams uncorrelated
    assert abs(float(torch.corrcoef(torch.stack([u[0, :-1], u[0, 1:]]))[0, 1])) < 0.01  # neighbours
    # a key's numbers do not depend on the other keys in the batch, and steps differ
    torch.testing.assert_close(counter_random.uniform(keys[2:3], 3, 200_000), u[2:3], rtol=0, atol=0)
    assert not torch.equal(counter_random.uniform(keys, 4, 200_000), u)
    x = torch.arange(1 << 20, dtype=torch.int64) * 4093  # distinct inputs -> distinct outputs (a bijection)
    assert len(torch.unique(counter_random.hash32(x))) == len(x)


def test_sample_pool_draws_half_from_each_side_and_all_rows_of_a_view():
    pos, neg = sphere_samples(0.4, n=500, seed=1)
    view = ShapeSamples(torch.rand(40, 3), torch.rand(40, 1), torch.rand(40) < 0.5)
    pool = _SamplePool([ShapeSamples.from_pos_neg(pos, neg), view], "cpu")
    rows = pool.draw(counter_random.uniform(counter_random.keys_from_seeds([5, 6]), 0, 20_000))  # (2, 20000)
    first, second = rows[0], rows[1]
    assert (pool.sdf[first[:10_000], 0] >= 0).all() and (pool.sdf[first[10_000:], 0] < 0).all()
    assert first.min() >= 0 and first.max() < len(pos) + len(neg)
    assert set(second.tolist()) == set(range(len(pos) + len(neg), len(pos) + len(neg) + 40))  # all 40 rows
    torch.testing.assert_close(pool.xyz[second[:3]], view.xyz[second[:3] - len(pos) - len(neg)])


@pytest.fixture(scope="module")
def sphere_model(tmp_path_factory):
    """A decoder trained on spheres of radius 0.2 .. 0.7 (a 1-D latent family)."""
    root = tmp_path_factory.mktemp("spheres")
    split = write_spheres(root / "data", np.linspace(0.2, 0.7, 6))
    specs = write_experiment(root / "exp", tiny_specs(root / "data", split, NumEpochs=60, ScenesPerBatch=3,
                                                      SnapshotFrequency=1000, LogFrequency=1000))
    tr = DeepSDFTrainer(root / "exp", specs, device="cpu", progress=False, tensorboard=False)
    tr.train()
    return tr.decoder.eval(), root


def test_partial_view_completion_beats_the_zero_code(sphere_model):
    decoder, _ = sphere_model
    sphere = trimesh.creation.icosphere(3, radius=0.45)
    xyz, sdf, free = partial_samples(sphere.vertices, sphere.faces, [1.0, 0.3, 0.5], resolution=48)
    assert free.any() and (~free).any() and xyz[:, 0][~free].mean() < 0  # only the side facing the camera
    rec = DeepSDFReconstructor(decoder, 4, iterations=150, samples_per_iteration=1024, device="cpu")
    partial = ShapeSamples(torch.from_numpy(xyz), torch.from_numpy(sdf), torch.from_numpy(free))
    code = rec.reconstruct([partial])
    full = [ShapeSamples.from_pos_neg(*sphere_samples(0.45, seed=99))]
    err_fit = rec.sdf_error(code, full)[0]
    err_zero = rec.sdf_error(torch.zeros(1, 4), full)[0]
    assert err_fit < 0.6 * err_zero


# ----------------------------------------------------------------------------- scripts end to end
def test_pipeline_end_to_end_on_a_tiny_dataset(tmp_path, capsys, monkeypatch):
    import load_data
    import sample_points
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    assert load_data.main(["--default", "--per-family", "2", "--data-dir", str(data), "--no-progress"]) == 0
    assert sample_points.main(["--dataset", "EmbeddedShapes", "--data-dir", str(data), "--workers", "1",
                               "--num-samples", "6000", "--surface-samples", "3000", "--classes", "03001627", "04379243",
                               "--test-fraction", "0.5", "--no-progress"]) == 0
    specs = tiny_specs(data, data / "splits" / "EmbeddedShapes_train.json", NumEpochs=3,
                       TestSplit=str(data / "splits" / "EmbeddedShapes_test.json"))
    exp = tmp_path / "training" / "tiny"
    (tmp_path / "s.json").write_text(json.dumps(specs))
    assert train.main(["-e", str(exp), "--specs", str(tmp_path / "s.json"), "--no-progress"]) == 0
    assert (exp / paths.LOGS_CSV).exists()
    state = torch.load(paths.checkpoint(exp, paths.MODEL_PARAMS, "latest"), weights_only=True)
    r = reconstruct.main(["-e", str(exp), "--iterations", "5", "--samples", "200", "--resolution", "24",
                          "--no-progress"])
    assert r == 0
    test = json.loads((data / "splits" / "EmbeddedShapes_test.json").read_text())
    n_test = sum(len(v) for v in test["EmbeddedShapes"].values())
    codes = list((exp / "Reconstructions" / "3" / "Codes").rglob("*.pth"))
    assert len(codes) == n_test and torch.load(codes[0], weights_only=True).shape == (1, 4)
    meshes = list((exp / "Reconstructions" / "3" / "Meshes").rglob("*.ply"))
    assert meshes  # seeded: this tiny run has a surface for its test shapes
    assert evaluate.main(["-e", str(exp), "--points", "2000", "--emd-points", "50", "--report",
                          str(tmp_path / "report.html"), "--no-progress"]) == 0
    with open(exp / "Evaluation" / "3" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(meshes) and all(float(r["chamfer"]) > 0 for r in rows)
    summary = json.loads((exp / "Evaluation" / "3" / "summary.json").read_text())
    assert "squared" in summary["units"]["chamfer"] and "all" in summary["per_class"]
    assert "<table" in (tmp_path / "report.html").read_text()
    assert state["epoch"] == 3


def test_bad_inputs_give_clear_errors(tmp_path, capsys, sphere_model):
    _, root = sphere_model
    assert reconstruct.main(["-e", str(tmp_path / "nothing"), "--no-progress"]) == 1
    assert "no such checkpoint" in capsys.readouterr().err
    # a checkpoint whose weights do not fit its specs (latent size changed by hand)
    exp = root / "exp"
    ck = paths.checkpoint(exp, paths.MODEL_PARAMS, "latest")
    data = torch.load(ck, weights_only=True)
    cfg = json.loads(data["config"])
    cfg["CodeLength"] = 8
    data["config"] = json.dumps(cfg)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "specs.json").write_text(json.dumps(cfg))
    torch.save(data, paths.checkpoint(bad, paths.MODEL_PARAMS, "latest").parent.mkdir(parents=True) or
               paths.checkpoint(bad, paths.MODEL_PARAMS, "latest"))
    assert reconstruct.main(["-e", str(bad), "--no-progress"]) == 1
    assert "does not fit the network" in capsys.readouterr().err
    # an empty sample file is named and skipped; the others are reconstructed
    split = json.loads((root / "data" / "splits" / "Spheres.json").read_text())
    empty = paths.sdf_samples(root / "data", "Spheres", "sphere", "empty")
    empty.write_bytes(b"")
    split["Spheres"]["sphere"] = ["empty", "s01"]
    (tmp_path / "split.json").write_text(json.dumps(split))
    assert reconstruct.main(["-e", str(exp), "--split", str(tmp_path / "split.json"), "--iterations", "3",
                             "--samples", "100", "--resolution", "20", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "empty.npz: cannot be read" in err
    assert paths.reconstruction_code(exp, 60, "Spheres", "sphere", "s01").exists()
