"""Decoder, specs, schedules, loss, SDFSamples, training, resume, checkpoints, NaN stop and DDP (gloo)."""
import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import train
from source import checkpoints, paths
from source import specs as specs_mod
from source.deep_sdf import Decoder, load_original_state_dict
from source.deep_sdf_trainer import DeepSDFTrainer, TrainingDiverged
from source.learning_rate import ConstantSchedule, StepSchedule, WarmupSchedule
from source.losses import clamped_l1_sum, code_penalty_sum, regularization_weight
from source.sdf_samples import SampleFileError, SDFSamples, read_sdf_npz
from tests.sdf_fixtures import DEVICES, tiny_specs, write_experiment, write_spheres

ORIGINAL_CHAIRS_SPECS = """{
  "Description" : [ "This experiment learns a shape representation for chairs ",
                    "using data from ShapeNet version 2." ],
  "DataSource" : "data",
  "TrainSplit" : "examples/splits/sv2_chairs_train.json",
  "TestSplit" : "examples/splits/sv2_chairs_test.json",
  "NetworkArch" : "deep_sdf_decoder",
  "NetworkSpecs" : {
    "dims" : [ 512, 512, 512, 512, 512, 512, 512, 512 ],
    "dropout" : [0, 1, 2, 3, 4, 5, 6, 7],
    "dropout_prob" : 0.2,
    "norm_layers" : [0, 1, 2, 3, 4, 5, 6, 7],
    "latent_in" : [4],
    "xyz_in_all" : false,
    "use_tanh" : false,
    "latent_dropout" : false,
    "weight_norm" : true
    },
  "CodeLength" : 256,
  "NumEpochs" : 2001,
  "SnapshotFrequency" : 1000,
  "AdditionalSnapshots" : [ 100, 500 ],
  "LearningRateSchedule" : [
    { "Type" : "Step", "Initial" : 0.0005, "Interval" : 500, "Factor" : 0.5 },
    { "Type" : "Step", "Initial" : 0.001, "Interval" : 500, "Factor" : 0.5 }],
  "SamplesPerScene" : 16384,
  "ScenesPerBatch" : 64,
  "DataLoaderThreads" : 16,
  "ClampingDistance" : 0.1,
  "CodeRegularization" : true,
  "CodeRegularizationLambda" : 1e-4,
  "CodeBound" : 1.0
}"""


# ----------------------------------------------------------------------------- decoder
def test_decoder_shapes_and_skip_connection():
    d = Decoder(8, dims=[16, 16, 16, 16], latent_in=[2], norm_layers=[0, 1, 2, 3], weight_norm=True)
    assert [l.in_features for l in d.layers] == [11, 16, 16, 16, 16]
    assert d.layers[1].out_features == 16 - 11  # makes room for [code, xyz] at layer 2
    out = d(torch.randn(5, 8), torch.randn(5, 3))
    assert out.shape == (5, 1)
    # the skip connection really carries the input: with the first two layers' outputs zeroed, the
    # output still depends on xyz
    with torch.no_grad():
        for lin in d.layers[:2]:
            lin.parametrizations.weight.original0.zero_()
            lin.bias.zero_()
    xyz = torch.randn(5, 3, requires_grad=True)
    d(torch.zeros(5, 8), xyz).sum().backward()
    assert xyz.grad.abs().sum() > 0


def test_use_tanh_is_honoured():
    for use_tanh in (False, True):
        d = Decoder(2, dims=[8, 8], use_tanh=use_tanh)
        with torch.no_grad():
            d.layers[-1].bias.fill_(5.0)
        out = d(torch.zeros(3, 2), torch.zeros(3, 3))
        assert (out.abs() < 1).all() if use_tanh else (out > 4).all()


def test_original_state_dict_names_load():
    d = Decoder(4, dims=[8, 8, 8], latent_in=[2], norm_layers=[0, 1, 2], weight_norm=True)
    ours = d.state_dict()
    original = {}
    for k, v in ours.items():  # rename to the original's lin<i>.weight_g / weight_v with DataParallel's prefix
        k = k.replace("layers.", "lin").replace(".parametrizations.weight.original0", ".weight_g")
        k = k.replace(".parametrizations.weight.original1", ".weight_v")
        original["module." + k] = v.clone() + 1
    d2 = load_original_state_dict(Decoder(4, dims=[8, 8, 8], latent_in=[2], norm_layers=[0, 1, 2], weight_norm=True),
                                  original)
    for k, v in d2.state_dict().items():
        assert torch.equal(v, ours[k] + 1)


# ----------------------------------------------------------------------------- specs and schedules
def test_original_specs_parse(tmp_path):
    p = tmp_path / "specs.json"
    p.write_text(ORIGINAL_CHAIRS_SPECS)
    s = specs_mod.load(p)
    assert s["Description"].startswith("This experiment learns")  # the list is joined, not a crash
    d = Decoder.from_specs(s)
    assert d.layers[3].out_features == 512 - 259 and not d.use_tanh
    assert sum(p.numel() for p in d.parameters()) > 1_500_000
    for preset in ("presets/paper.json", "presets/narrow.json", "presets/very_narrow.json", "specs.json"):
        specs_mod.load(paths.Path(__file__).parents[1] / preset)


@pytest.mark.parametrize("change, message", [
    ({"CodeLenght": 3}, "unknown key 'CodeLenght'"),
    ({"CodeLength": "256"}, "key 'CodeLength' must be int"),
    ({"CodeRegularization": 1}, "key 'CodeRegularization' must be bool"),
    ({"NetworkSpecs": {"dims": [64], "dropout": [], "norm_layers": [], "latent_in": [5]}}, "key 'NetworkSpecs.latent_in' names layer 5"),
    ({"NetworkSpecs": {"dim": [64]}}, "unknown key 'NetworkSpecs.dim'"),
    ({"LearningRateSchedule": [{"Type": "Steps"}]}, "LearningRateSchedule[0].Type"),
    ({"LearningRateSchedule": [{"Type": "Step", "Initial": 1e-3, "Interval": 10}]}, "LearningRateSchedule[0].Factor"),
    ({"SamplesPerScene": 1001}, "key 'SamplesPerScene' must be even"),
])
def test_bad_specs_name_the_key(tmp_path, change, message):
    s = json.loads(ORIGINAL_CHAIRS_SPECS)
    s.update(change)
    p = tmp_path / "specs.json"
    p.write_text(json.dumps(s))
    with pytest.raises(specs_mod.SpecsError) as e:
        specs_mod.load(p)
    assert message in str(e.value) and str(p) in str(e.value)


def test_schedules():
    step = StepSchedule(1e-3, 500, 0.5)
    assert [step(e) for e in (1, 499, 500, 1000, 1500)] == [1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4]
    warm = WarmupSchedule(0.0, 1.0, 10)
    assert warm(5) == 0.5 and warm(10) == 1.0 and warm(11) == 1.0
    assert ConstantSchedule(0.3)(1234) == 0.3


def test_loss_and_regularisation_by_hand():
    pred = torch.tensor([[0.05], [0.3], [-0.2], [0.0]])
    gt = torch.tensor([[0.0], [0.5], [0.1], [-0.05]])
    # clamp at 0.1: |0.05-0| + |0.1-0.1| + |-0.1-0.1| + |0-(-0.05)| = 0.05 + 0 + 0.2 + 0.05
    assert clamped_l1_sum(pred, gt, 0.1).item() == pytest.approx(0.3)
    codes = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert code_penalty_sum(codes).item() == pytest.approx(6.0)
    assert regularization_weight(1e-4, 50) == pytest.approx(5e-5) and regularization_weight(1e-4, 300) == 1e-4


# ----------------------------------------------------------------------------- samples
def test_sdf_samples_in_memory_draw(tmp_path):
    split = write_spheres(tmp_path, [0.3, 0.6])
    from source.splits import read_split
    data = SDFSamples(tmp_path, read_split(split))
    assert data.nbytes == (len(data.pos) + len(data.neg)) * 16
    xyz, sdf, scene = data.draw(torch.tensor([1, 0]), 100, torch.Generator().manual_seed(0))
    assert xyz.shape == (200, 3) and sdf.shape == (200, 1)
    assert (scene[:100] == 1).all() and (scene[100:] == 0).all()
    # rows really come from the right scene: sdf = |x| - r, half of them outside
    r = torch.tensor([0.6] * 100 + [0.3] * 100)
    assert torch.allclose(xyz.norm(dim=1) - r, sdf[:, 0], atol=1e-5)
    assert (sdf[:50] >= 0).all() and (sdf[50:100] < 0).all()


def test_bad_sample_files_are_named(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(SampleFileError, match="empty.npz: cannot be read"):
        read_sdf_npz(empty)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, pos=np.zeros((3, 3)), neg=np.zeros((3, 4)))
    with pytest.raises(SampleFileError, match="'pos' must be N x 4"):
        read_sdf_npz(wrong)
    with pytest.raises(SampleFileError, match="no such sample file"):
        read_sdf_npz(tmp_path / "missing.npz")


# ----------------------------------------------------------------------------- training
def _trainer(tmp_path, name="exp", device="cpu", **over):
    split = write_spheres(tmp_path / "data", [0.2, 0.35, 0.5, 0.65])
    specs = write_experiment(tmp_path / name, tiny_specs(tmp_path / "data", split, **over))
    return DeepSDFTrainer(tmp_path / name, specs, device=device, progress=False, tensorboard=False)


def _log(exp):
    with open(exp / paths.LOGS_CSV) as f:
        return [(int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(f)]


@pytest.mark.parametrize("device", DEVICES)
def test_training_lowers_the_loss_and_checkpoints_round_trip(tmp_path, device):
    tr = _trainer(tmp_path, NumEpochs=12, device=device)
    hist = tr.train()
    assert hist[-1]["loss"] < 0.7 * hist[0]["loss"]
    exp = tmp_path / "exp"
    for kind in (paths.MODEL_PARAMS, paths.LATENT_CODES, paths.OPTIMIZER_PARAMS):
        assert {p.stem for p in (exp / kind).glob("*.pth")} >= {"2", "4", "12", "latest"}
    state, config, epoch = checkpoints.load_model(exp)  # weights_only=True inside
    assert epoch == 12 and config["CodeLength"] == 4
    d = Decoder.from_specs(config)
    d.load_state_dict(state)
    codes, scenes, _ = checkpoints.load_codes(exp)
    x = torch.randn(50, 3)
    trained = tr.decoder.cpu().eval()
    d.eval()
    assert torch.equal(d(codes[:1].expand(50, -1), x), trained(tr.codes.weight[:1].cpu().expand(50, -1), x))
    assert scenes[0] == ("Spheres", "sphere", "s00")
    assert [e for e, _ in _log(exp)] == list(range(1, 13))


def _same_losses(a, b, device):
    """Equal on the CPU; on a GPU, where scatter-adds (the code gradients) may sum in any order, to rounding."""
    la, lb = [r["loss"] for r in a], [r["loss"] for r in b]
    if device == "cpu":
        assert la == lb
    else:
        np.testing.assert_allclose(la, lb, rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_same_losses(tmp_path, device):
    a = _trainer(tmp_path, "a", device=device).train()
    b = _trainer(tmp_path, "b", device=device).train()
    _same_losses(a, b, device)


@pytest.mark.parametrize("device", DEVICES)
def test_resume_equals_uninterrupted(tmp_path, device):
    run = dict(NumEpochs=6, LogFrequency=3, SnapshotFrequency=100, device=device)
    full = _trainer(tmp_path, "full", **run).train()
    # a run stopped after epoch 3, then resumed
    stopped3 = _trainer(tmp_path, "part3", **run)
    stopped3.train(num_epochs=3)
    resumed = _trainer(tmp_path, "part3", **run)
    resumed.resume()
    rest = resumed.train()
    _same_losses(rest, full[3:], device)
    log_part, log_full = _log(tmp_path / "part3"), _log(tmp_path / "full")
    assert [e for e, _ in log_part] == [e for e, _ in log_full] == list(range(1, 7))
    if device == "cpu":
        assert log_part == log_full


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path):
    tr = _trainer(tmp_path, NumEpochs=4, LogFrequency=2)
    tr.train()
    exp = tmp_path / "exp"
    with open(exp / paths.LOGS_CSV, "a") as f:  # rows a stopped run wrote after its last save
        f.write("5,0.1,0.1,0,0,0,1,1\n")
    again = _trainer(tmp_path, NumEpochs=5, LogFrequency=2)
    again.resume()
    assert again.start_epoch == 5 and [e for e, _ in _log(exp)] == [1, 2, 3, 4]


def test_resume_refuses_changed_specs(tmp_path):
    _trainer(tmp_path, NumEpochs=2).train()
    changed = _trainer(tmp_path, NumEpochs=2, ClampingDistance=0.2)
    with pytest.raises(specs_mod.SpecsError) as e:
        changed.resume()
    assert "ClampingDistance: was 0.1, now 0.2" in str(e.value)
    longer = _trainer(tmp_path, NumEpochs=3)  # a longer run is not a change
    longer.resume()
    assert len(longer.train()) == 1


def test_nan_loss_stops_with_epoch_and_checkpoint(tmp_path):
    tr = _trainer(tmp_path, NumEpochs=20, LogFrequency=1, CodeBound=None,
                  LearningRateSchedule=[{"Type": "Step", "Initial": 0.005, "Interval": 3, "Factor": 1e30}])
    with pytest.raises(TrainingDiverged) as e:
        tr.train()
    msg = str(e.value)
    assert "at epoch" in msg and "ModelParameters/latest.pth" in msg
    epoch = int(msg.split("at epoch ")[1].split(";")[0])
    _, _, saved = checkpoints.load_model(tmp_path / "exp")
    assert saved == epoch - 1  # the garbage epoch was not saved


def test_train_script_copies_specs_and_saves_config(tmp_path, capsys):
    split = write_spheres(tmp_path / "data", [0.3, 0.5])
    spec_file = tmp_path / "my_specs.json"
    spec_file.write_text(json.dumps(tiny_specs(tmp_path / "data", split, NumEpochs=2)))
    exp = tmp_path / "training" / "run"
    assert train.main(["-e", str(exp), "--specs", str(spec_file), "--no-progress", "--device", "cpu"]) == 0
    config = json.loads((exp / "config.json").read_text())
    assert config["specs"]["NumEpochs"] == 2 and config["world_size"] == 1
    assert (exp / paths.SPECS).read_text() == spec_file.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"CodeLength": 4, "Epochs": 3}')
    assert train.main(["-e", str(tmp_path / "other"), "--specs", str(bad), "--no-progress"]) == 1
    assert "unknown key 'Epochs'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- DDP on CPU with gloo
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, root, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from source import distributed
    tr = DeepSDFTrainer(root / "exp", device="cpu", progress=False, tensorboard=False)
    tr.build()
    ids = torch.tensor([2, 0, 3, 1])
    tr.step(ids, epoch=50)
    if rank == 0:
        torch.save({"decoder": tr.decoder.state_dict(), "codes": tr.codes.weight.detach().clone()}, out)
    else:
        torch.save({"codes": tr.codes.weight.detach().clone()}, str(out) + ".rank1")
    distributed.shutdown()


def test_ddp_two_processes_equal_one(tmp_path):
    split = write_spheres(tmp_path / "data", [0.2, 0.35, 0.5, 0.65])
    write_experiment(tmp_path / "exp", tiny_specs(tmp_path / "data", split, ScenesPerBatch=4))
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    mp.spawn(_ddp_worker, args=(1, _free_port(), tmp_path, one), nprocs=1)
    mp.spawn(_ddp_worker, args=(2, _free_port(), tmp_path, two), nprocs=2)
    a, b = torch.load(one, weights_only=True), torch.load(two, weights_only=True)
    b1 = torch.load(str(two) + ".rank1", weights_only=True)
    for k in a["decoder"]:
        torch.testing.assert_close(a["decoder"][k], b["decoder"][k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a["codes"], b["codes"], rtol=1e-5, atol=1e-6)
    assert torch.equal(b["codes"], b1["codes"])  # the ranks' code tables stay identical
    # and the step did something
    init = DeepSDFTrainer(tmp_path / "exp", device="cpu", progress=False, tensorboard=False)
    init.build()
    assert not torch.allclose(init.codes.weight, a["codes"])


_FAULTS_PER_STEP = """
import resource, sys, torch
from source import cpu_memory
from source.deep_sdf import Decoder
if sys.argv[1] == "keep":
    assert cpu_memory.keep_freed_memory()
torch.manual_seed(0)
dec = Decoder(16, dims=[96] * 6, latent_in=[3], norm_layers=range(6), weight_norm=True)
codes, xyz = torch.randn(4096, 16, requires_grad=True), torch.randn(4096, 3)
for k in range(50):
    if k == 30:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    dec(codes, xyz).abs().sum().backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)  # minor faults per step
"""


def test_keep_freed_memory_stops_page_faults_every_step():
    # a decoder step of the very_narrow preset, each setting in a fresh process
    run = lambda mode: float(subprocess.run([sys.executable, "-c", _FAULTS_PER_STEP, mode], check=True, text=True,
                                            capture_output=True, cwd=Path(__file__).parents[1]).stdout)
    # three runs each: now and then a run with the setting still grows its heap by one activation a step
    default = float(np.median([run("default") for _ in range(3)]))
    keep = min(run("keep") for _ in range(3))
    assert keep < 25, keep  # (nearly) the same pages every step
    assert default > 4 * max(keep, 10), (default, keep)  # glibc's defaults fault the activations in again
