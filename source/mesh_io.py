"""Reading meshes with clear one-line errors, and DeepSDF's unit-sphere normalisation."""
from pathlib import Path

import numpy as np
import trimesh

MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")
# DeepSDF scales so that the farthest vertex lies at 1/1.03: a 3% buffer inside the unit sphere.
BUFFER = 1.03


class MeshError(ValueError):
    """A mesh file that cannot be used; str() is one line naming the file and the problem."""


def load_mesh(path):
    """Load any mesh file as one triangle soup (scenes are flattened). Returns (V float64, F int64)."""
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MeshError(f"{path}: empty file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as e:  # trimesh raises many types for corrupt files
        raise MeshError(f"{path}: cannot be read as a mesh ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    V = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype=np.float64)
    F = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(F) == 0 or len(V) == 0:
        raise MeshError(f"{path}: no triangles")
    if not np.isfinite(V).all():
        raise MeshError(f"{path}: non-finite vertex coordinates")
    if F.min() < 0 or F.max() >= len(V):
        raise MeshError(f"{path}: face indices out of range")
    used = V[np.unique(F)]
    if np.ptp(used, axis=0).max() <= 0:
        raise MeshError(f"{path}: degenerate (all vertices coincide)")
    tri = V[F]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if area.sum() <= 1e-12 * np.ptp(used, axis=0).max() ** 2:
        raise MeshError(f"{path}: degenerate (zero surface area)")
    return V, F


def normalization_parameters(V, F):
    """DeepSDF's NormalizationParameters: normalised = (v + offset) * scale.

    offset: minus the middle of the bounding box of the used vertices; scale: so that the farthest
    used vertex lies at distance 1/1.03 from the origin.
    """
    used = V[np.unique(F)]
    center = 0.5 * (used.max(0) + used.min(0))
    radius = np.linalg.norm(used - center, axis=1).max()
    return -center, 1.0 / (radius * BUFFER)


def find_meshes(folder):
    """All mesh files under folder, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in MESH_SUFFIXES and p.is_file())
