"""The ground-truth mesh of a scene, found in the raw dataset folder and put in the normalised frame."""
from pathlib import Path

import numpy as np

from . import paths
from .mesh_io import MESH_SUFFIXES, load_mesh, normalization_parameters


def mesh_path(data_dir, dataset, cls, instance):
    """data/<dataset>/<class>/<instance>/models/<mesh> (model_normalized preferred)."""
    folder = Path(data_dir) / dataset / cls / instance / "models"
    meshes = sorted(p for p in folder.glob("*") if p.suffix.lower() in MESH_SUFFIXES)
    if not meshes:
        raise FileNotFoundError(f"{folder}: no mesh file (the raw dataset is needed here)")
    preferred = [m for m in meshes if m.stem == "model_normalized"]
    return (preferred or meshes)[0]


def normalisation(data_dir, dataset, cls, instance, V=None, F=None):
    """(offset, scale) saved by sample_points.py, or computed from the mesh when the file is missing."""
    npz = paths.normalization(data_dir, dataset, cls, instance)
    if npz.exists():
        with np.load(npz) as f:
            return np.asarray(f["offset"], dtype=np.float64), float(f["scale"])
    return normalization_parameters(V, F)


def normalised_mesh(data_dir, dataset, cls, instance):
    """(V, F) of the scene's raw mesh in the normalised frame: (x + offset) * scale."""
    V, F = load_mesh(mesh_path(data_dir, dataset, cls, instance))
    offset, scale = normalisation(data_dir, dataset, cls, instance, V, F)
    return (V + offset) * scale, F
