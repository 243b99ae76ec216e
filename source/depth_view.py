"""Partial observations for shape completion: what one depth camera sees of a shape.

An orthographic camera looking along `direction` casts a grid of parallel rays through [-1, 1]^3 (in the
normalised frame). Where a ray hits the surface, the visible point and its normal (turned towards the
camera) give two SDF samples, at +eta and -eta along the normal; the stretch of the ray in front of the hit,
and rays that hit nothing, are free space (known to be outside, distance unknown).
"""
import numpy as np

from .virtual_scan import camera_basis, render_view, unit_normals


def depth_view(V, F, direction, resolution=128):
    """Cast resolution^2 rays along `direction` (one per pixel centre, z-buffer of virtual_scan.py).
    Returns origins (R, 3), ray direction (3,), hit mask (R,), hit points (H, 3), normals at the hits
    facing the camera (H, 3)."""
    d, u, v = camera_basis(direction)
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    tri, _, points = render_view(V, F, d, resolution)
    c = -1 + (np.arange(resolution) + 0.5) * 2 / resolution
    A, B = np.meshgrid(c, c, indexing="ij")  # the renderer's pixel order: u-major
    origins = -2.0 * d + A.reshape(-1, 1) * u + B.reshape(-1, 1) * v  # a plane behind the unit sphere
    hit = tri >= 0
    normals = unit_normals(V, F[tri[hit]])
    normals[(normals @ d) > 0] *= -1  # towards the camera
    return origins, d, hit, points, normals


def partial_samples(V, F, direction, resolution=128, eta=0.01, free_per_ray=4, seed=0):
    """SDF samples of a single depth view: xyz (N, 3) float32, sdf (N, 1) float32, free (N,) bool.

    Near the visible surface: p + eta * n (sdf +eta) and p - eta * n (sdf -eta). Free space: `free_per_ray`
    points per ray, uniform between the cube's entry and eta before the hit (or the cube's exit).
    """
    rng = np.random.default_rng(seed)
    origins, d, hit, points, normals = depth_view(V, F, direction, resolution)
    if len(points) == 0:
        raise ValueError("the depth view sees no surface from this direction")
    near = np.concatenate([points + eta * normals, points - eta * normals])
    near_sdf = np.concatenate([np.full(len(points), eta), np.full(len(points), -eta)])
    # ray parameter t from the origin plane (t = 1 enters the unit sphere's front, t = 3 leaves it)
    t_hit = np.full(len(origins), 3.0)
    t_hit[hit] = (points - origins[hit]) @ d - eta
    t = 1.0 + rng.random((len(origins), free_per_ray)) * np.maximum(t_hit - 1.0, 0.0)[:, None]
    free_pts = (origins[:, None, :] + t[..., None] * d).reshape(-1, 3)
    free_pts = free_pts[np.all(np.abs(free_pts) <= 1.0, axis=1)]
    xyz = np.concatenate([near, free_pts]).astype(np.float32)
    sdf = np.concatenate([near_sdf, np.zeros(len(free_pts))]).astype(np.float32)[:, None]
    free = np.r_[np.zeros(len(near), dtype=bool), np.ones(len(free_pts), dtype=bool)]
    return xyz, sdf, free
