"""Write triangle meshes atomically (the format follows the suffix: .ply, .obj, .off, .stl)."""
import trimesh

from .paths import atomic_path


def write_mesh(path, V, F):
    with atomic_path(path) as tmp:
        trimesh.Trimesh(V, F, process=False).export(tmp)
