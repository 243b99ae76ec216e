"""Distances between a reconstructed and a ground-truth surface, in the normalised frame (unit sphere).

- chamfer: DeepSDF's definition, mean squared nearest-neighbour distance from each set to the other,
  the two means summed (units: squared normalised length).
- earth_movers: mean distance of the optimal one-to-one matching between two equal-size subsamples
  (units: normalised length).
- f_score: harmonic mean of precision (share of reconstructed points within `threshold` of the truth) and
  recall (share of true points within `threshold` of the reconstruction).
- normal_consistency: mean |cos| between each point's normal and its nearest neighbour's, both ways.
"""
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree


def nearest(a, b):
    """For each point of a (n, 3): distance to and index of its nearest point in b (m, 3)."""
    return cKDTree(b).query(a, k=1)


def chamfer(a, b):
    da, _ = nearest(a, b)
    db, _ = nearest(b, a)
    return float(np.mean(da ** 2) + np.mean(db ** 2))


def earth_movers(a, b, n=500, seed=0):
    """Optimal matching of n points of each set (exact, Hungarian algorithm)."""
    rng = np.random.default_rng(seed)
    n = min(n, len(a), len(b))
    a = a[rng.choice(len(a), n, replace=False)]
    b = b[rng.choice(len(b), n, replace=False)]
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].mean())


def f_score(a, b, threshold=0.01):
    """a: reconstruction points, b: ground truth points. Returns (f, precision, recall)."""
    da, _ = nearest(a, b)
    db, _ = nearest(b, a)
    precision, recall = float(np.mean(da < threshold)), float(np.mean(db < threshold))
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return f, precision, recall


def normal_consistency(a, na, b, nb):
    """Points a with unit normals na, points b with unit normals nb (orientation ignored)."""
    _, ia = nearest(a, b)
    _, ib = nearest(b, a)
    return float(0.5 * (np.mean(np.abs(np.sum(na * nb[ia], axis=1))) + np.mean(np.abs(np.sum(nb * na[ib], axis=1)))))


def sample_surface(V, F, n, seed=0):
    """n area-weighted points on a triangle mesh and their face normals."""
    import trimesh
    mesh = trimesh.Trimesh(V, F, process=False)
    pts, face = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return pts, mesh.face_normals[face]
