"""Every path name of the on-disk contract, in one place (DeepSDF's own layout).

data/
  <raw dataset>/<class>/<instance>/models/model_normalized.obj   meshes (ShapeNetCore.v2 layout)
  SdfSamples/<dataset>/<class>/<instance>.npz                     pos/neg (N x 4, float32)
  SurfaceSamples/<dataset>/<class>/<instance>.ply                 surface points for evaluation
  NormalizationParameters/<dataset>/<class>/<instance>.npz        offset, scale
  splits/<name>_{train,test}.json                                 {"<dataset>": {"<class>": [...]}}
training/<experiment>/
  specs.json, ModelParameters/<epoch|latest>.pth, LatentCodes/..., OptimizerParameters/...,
  Logs.csv, Reconstructions/<epoch>/{Codes,Meshes}/<dataset>/<class>/<instance>.{pth,ply},
  Evaluation/<epoch>/{chamfer.csv,summary.json}
"""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

SDF_SAMPLES = "SdfSamples"
SURFACE_SAMPLES = "SurfaceSamples"
NORMALIZATION = "NormalizationParameters"
SPLITS = "splits"

SPECS = "specs.json"
MODEL_PARAMS = "ModelParameters"
LATENT_CODES = "LatentCodes"
OPTIMIZER_PARAMS = "OptimizerParameters"
LOGS_CSV = "Logs.csv"
TENSORBOARD = "tensorboard"
RECONSTRUCTIONS = "Reconstructions"
RECON_CODES = "Codes"
RECON_MESHES = "Meshes"
EVALUATION = "Evaluation"


def sdf_samples(data_dir, dataset, cls, instance):
    return Path(data_dir) / SDF_SAMPLES / dataset / cls / f"{instance}.npz"


def surface_samples(data_dir, dataset, cls, instance):
    return Path(data_dir) / SURFACE_SAMPLES / dataset / cls / f"{instance}.ply"


def normalization(data_dir, dataset, cls, instance):
    return Path(data_dir) / NORMALIZATION / dataset / cls / f"{instance}.npz"


def checkpoint(experiment, kind, epoch):
    """kind: MODEL_PARAMS, LATENT_CODES or OPTIMIZER_PARAMS; epoch: int or 'latest'."""
    return Path(experiment) / kind / f"{epoch}.pth"


def reconstruction_mesh(experiment, epoch, dataset, cls, instance):
    return Path(experiment) / RECONSTRUCTIONS / str(epoch) / RECON_MESHES / dataset / cls / f"{instance}.ply"


def reconstruction_code(experiment, epoch, dataset, cls, instance):
    return Path(experiment) / RECONSTRUCTIONS / str(epoch) / RECON_CODES / dataset / cls / f"{instance}.pth"


def evaluation_dir(experiment, epoch):
    return Path(experiment) / EVALUATION / str(epoch)


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A reader never sees a half-written file, and an interrupted job leaves no partial output.
    The temporary name keeps the suffix so that libraries choosing a format by suffix still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
