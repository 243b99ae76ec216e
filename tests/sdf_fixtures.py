"""Small analytic SDF datasets for the training and reconstruction tests: spheres of several radii."""
import json

import numpy as np
import torch

from source import paths
from source import specs as specs_mod


# the devices the device-dependent tests run on: the CPU everywhere, and the GPU where there is one
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def sphere_samples(radius, n=4000, seed=0):
    """DeepSDF-style samples of a sphere at the origin: pos (sdf >= 0) and neg (sdf < 0), float32 N x 4."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    near = d * radius + rng.normal(scale=0.05, size=(n, 3))
    uni = rng.uniform(-1, 1, size=(n // 10, 3))
    xyz = np.concatenate([near, uni])
    sdf = np.linalg.norm(xyz, axis=1) - radius
    s = np.c_[xyz, sdf].astype(np.float32)
    return s[sdf >= 0], s[sdf < 0]


def write_spheres(data_dir, radii, dataset="Spheres", cls="sphere", seed=0):
    """Sample files and a split for spheres of the given radii. Returns the split path."""
    names = []
    for k, r in enumerate(radii):
        pos, neg = sphere_samples(r, seed=seed + k)
        path = paths.sdf_samples(data_dir, dataset, cls, f"s{k:02d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, pos=pos, neg=neg)
        names.append(f"s{k:02d}")
    split = paths.Path(data_dir) / "splits" / f"{dataset}.json"
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_text(json.dumps({dataset: {cls: names}}))
    return split


def tiny_specs(data_dir, split, **over):
    s = {
        "Description": ["tiny", "test"],
        "DataSource": str(data_dir),
        "TrainSplit": str(split),
        "TestSplit": str(split),
        "NetworkSpecs": {"dims": [32, 32, 32, 32], "dropout": [], "dropout_prob": 0.0, "norm_layers": [0, 1, 2, 3],
                         "latent_in": [2], "weight_norm": True},
        "CodeLength": 4,
        "NumEpochs": 4,
        "SnapshotFrequency": 2,
        "AdditionalSnapshots": [],
        "LogFrequency": 1,
        "LearningRateSchedule": [{"Type": "Constant", "Value": 0.005}, {"Type": "Constant", "Value": 0.01}],
        "SamplesPerScene": 256,
        "ScenesPerBatch": 2,
        "ClampingDistance": 0.1,
        "CodeBound": 1.0,
    }
    s.update(over)
    return s


def write_experiment(folder, specs):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / paths.SPECS).write_text(json.dumps(specs))
    return specs_mod.load(folder / paths.SPECS)
