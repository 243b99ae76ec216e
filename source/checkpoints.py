"""Experiment checkpoints in the original's three-file layout, holding only tensors and plain values.

ModelParameters/<name>.pth      {"epoch", "model_state_dict", "config"}
LatentCodes/<name>.pth          {"epoch", "latent_codes": {"weight": (S, L)}, "scenes"}
OptimizerParameters/<name>.pth  {"epoch", "optimizer_state_dict", "rng", "config"}

"config" is the resolved specs as a JSON string and "scenes" the scene list as JSON, so every file loads with
`torch.load(..., weights_only=True)`. Each file is written to a temporary name and renamed: an interrupted
save leaves the previous file whole. The three are renamed one after the other; `load` checks that they
hold the same epoch and names the files if they do not.
"""
import json
from pathlib import Path

import torch

from . import paths


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or inconsistent; the message names the file."""


def _save(obj, path):
    with paths.atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save(experiment, names, epoch, decoder, codes, optimizer, specs, scenes, rng):
    """Write the three files under each name in `names` (an epoch number and/or 'latest')."""
    config = json.dumps(specs, sort_keys=True)
    model = {"epoch": epoch, "model_state_dict": decoder.state_dict(), "config": config}
    latent = {"epoch": epoch, "latent_codes": {"weight": codes.detach().cpu()}, "scenes": json.dumps(scenes)}
    optim = {"epoch": epoch, "optimizer_state_dict": optimizer.state_dict(), "rng": rng, "config": config}
    for name in names:
        _save(model, paths.checkpoint(experiment, paths.MODEL_PARAMS, name))
        _save(latent, paths.checkpoint(experiment, paths.LATENT_CODES, name))
        _save(optim, paths.checkpoint(experiment, paths.OPTIMIZER_PARAMS, name))


def load_file(path, map_location="cpu"):
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for a damaged file
        raise CheckpointError(f"{path}: cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def load_codes(experiment, name="latest", map_location="cpu"):
    """(codes (S, L), scenes list or None, epoch). Reads the original's old format (S, 1, L) too."""
    data = load_file(paths.checkpoint(experiment, paths.LATENT_CODES, name), map_location)
    codes = data["latent_codes"]
    codes = codes["weight"] if isinstance(codes, dict) else codes.reshape(codes.shape[0], -1)
    scenes = json.loads(data["scenes"]) if "scenes" in data else None
    return codes, (None if scenes is None else [tuple(s) for s in scenes]), data["epoch"]


def load_model(experiment, name="latest", map_location="cpu"):
    """(model state dict, specs dict or None, epoch)."""
    data = load_file(paths.checkpoint(experiment, paths.MODEL_PARAMS, name), map_location)
    config = json.loads(data["config"]) if "config" in data else None
    return data["model_state_dict"], config, data["epoch"]


def load(experiment, name="latest", map_location="cpu"):
    """All three files of a training checkpoint, checked to hold the same epoch."""
    model = load_file(paths.checkpoint(experiment, paths.MODEL_PARAMS, name), map_location)
    latent = load_file(paths.checkpoint(experiment, paths.LATENT_CODES, name), map_location)
    optim = load_file(paths.checkpoint(experiment, paths.OPTIMIZER_PARAMS, name), map_location)
    epochs = {"ModelParameters": model["epoch"], "LatentCodes": latent["epoch"], "OptimizerParameters": optim["epoch"]}
    if len(set(epochs.values())) != 1:
        raise CheckpointError(f"{Path(experiment)}: checkpoint '{name}' files disagree on the epoch "
                              f"({', '.join(f'{k}={v}' for k, v in epochs.items())}); resume from a numbered snapshot")
    return model, latent, optim


def available_epochs(experiment):
    """Numbered snapshots present for all three files, sorted."""
    found = None
    for kind in (paths.MODEL_PARAMS, paths.LATENT_CODES, paths.OPTIMIZER_PARAMS):
        names = {p.stem for p in (Path(experiment) / kind).glob("*.pth")}
        found = names if found is None else found & names
    return sorted(int(n) for n in (found or ()) if n.isdigit())
