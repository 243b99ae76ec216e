"""Per-shape metrics of a reconstruction against its ground truth, in the normalised frame, and summaries."""
import numpy as np
import trimesh

from . import metrics, paths
from .reference_meshes import normalisation, normalised_mesh

METRICS = ["chamfer", "earth_movers", "f_score", "precision", "recall", "normal_consistency"]
UNITS = {
    "chamfer": "squared normalised length (unit-sphere frame), sum of the two directions' means",
    "earth_movers": "normalised length, mean matched distance",
    "f_score": "fraction in [0, 1]",
    "precision": "fraction in [0, 1]",
    "recall": "fraction in [0, 1]",
    "normal_consistency": "mean |cos| in [0, 1] (against the ground-truth mesh; NaN without it)",
}


def load_surface_samples(data_dir, dataset, cls, instance):
    path = paths.surface_samples(data_dir, dataset, cls, instance)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no surface samples (run sample_points.py for this dataset)")
    return np.asarray(trimesh.load(path, process=False).vertices, dtype=np.float64)


def evaluate_shape(mesh_file, data_dir, scene, points=30000, emd_points=500, threshold=0.01, seed=0):
    """Metrics of one reconstructed mesh (written in the input mesh's frame by reconstruct.py)."""
    mesh = trimesh.load(mesh_file, process=False, force="mesh")
    if len(mesh.faces) == 0:
        raise ValueError(f"{mesh_file}: the reconstruction has no triangles")
    offset, scale = normalisation(data_dir, *scene, V=mesh.vertices, F=mesh.faces)
    V = (np.asarray(mesh.vertices) + offset) * scale  # back to the normalised frame
    rec, rec_n = metrics.sample_surface(V, mesh.faces, points, seed=seed)
    gt = load_surface_samples(data_dir, *scene)
    f, p, r = metrics.f_score(rec, gt, threshold)
    row = {"chamfer": metrics.chamfer(rec, gt), "earth_movers": metrics.earth_movers(rec, gt, emd_points, seed),
           "f_score": f, "precision": p, "recall": r, "normal_consistency": float("nan")}
    try:
        gV, gF = normalised_mesh(data_dir, *scene)
        gt2, gt_n = metrics.sample_surface(gV, gF, points, seed=seed + 1)
        row["normal_consistency"] = metrics.normal_consistency(rec, rec_n, gt2, gt_n)
    except (FileNotFoundError, ValueError):
        pass
    return row


def summarise(rows):
    """{class: {metric: {"mean", "median", "count"}}} plus an "all" entry. rows: dicts with 'class'."""
    groups = {}
    for row in rows:
        groups.setdefault(row["class"], []).append(row)
    groups["all"] = list(rows)
    out = {}
    for cls, rs in groups.items():
        out[cls] = {}
        for m in METRICS:
            v = np.array([r[m] for r in rs], dtype=np.float64)
            v = v[np.isfinite(v)]
            out[cls][m] = {"mean": float(v.mean()) if len(v) else None,
                           "median": float(np.median(v)) if len(v) else None, "count": int(len(v))}
    return out
