"""Partial observations for shape completion: what one depth camera sees of a shape.

An orthographic camera looking along `direction` casts a grid of parallel rays through [-1, 1]^3 (in the
normalised frame). Where a ray hits the surface, the visible point and its normal (turned towards the
camera) give two SDF samples, at +eta and -eta along the normal; the stretch of the ray in front of the hit,
and rays that hit nothing, are free space (known to be outside, distance unknown).
"""
import numpy as np
import trimesh


def _basis(direction):
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    return d, u, np.cross(d, u)


def depth_view(V, F, direction, resolution=128):
    """Cast resolution^2 rays along `direction`. Returns origins (R, 3), ray direction (3,), hit mask (R,),
    hit points (H, 3), normals at the hits facing the camera (H, 3)."""
    d, u, v = _basis(direction)
    a = np.linspace(-1.0, 1.0, resolution)
    A, B = np.meshgrid(a, a, indexing="ij")
    origins = -2.0 * d + A.reshape(-1, 1) * u + B.reshape(-1, 1) * v  # a plane behind the unit sphere
    mesh = trimesh.Trimesh(V, F, process=False)
    locs, ray_idx, tri_idx = mesh.ray.intersects_location(origins, np.tile(d, (len(origins), 1)),
                                                          multiple_hits=False)
    hit = np.zeros(len(origins), dtype=bool)
    hit[ray_idx] = True
    order = np.argsort(ray_idx)
    points, normals = locs[order], mesh.face_normals[tri_idx[order]].copy()
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
