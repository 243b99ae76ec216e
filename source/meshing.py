"""Meshes from a signed distance field: marching cubes at level 0 over [-1, 1]^3.

The grid has `resolution` points per axis at exactly linspace(-1, 1, resolution): the corners are at
plus and minus one and the spacing is 2 / (resolution - 1) (the original computed grid indices with a
true division and shifted the grid).

Two ways to fill the grid:
- dense: the field at every grid point, in batches (resolution^3 evaluations);
- coarse-to-fine: the field on a coarse lattice, then only inside cells that may hold the surface, halving
  the cell size down to the grid's own cells. A cell is refined when its corners change sign or one of them
  is within `margin` cell diagonals of zero: for a field whose slope is at most `margin`, no cell the
  surface crosses is missed, and every grid cell the surface crosses has all its corners evaluated
  exactly, so marching cubes (restricted to those cells) returns the dense grid's mesh.
"""
import numpy as np
import torch
from skimage import measure


class NoSurface(ValueError):
    """The field has no zero crossing on the grid: there is no surface to extract."""


def grid_points(resolution):
    """(resolution^3, 3) float32 points in C order (x slowest): point (i, j, k) = -1 + h * (i, j, k)."""
    ax = np.linspace(-1.0, 1.0, resolution, dtype=np.float64)
    g = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), axis=-1)
    return g.reshape(-1, 3).astype(np.float32)


def index_to_points(idx, resolution):
    """Integer grid indices (n, 3) -> coordinates in [-1, 1] (n, 3), float32, same formula as grid_points."""
    return (-1.0 + idx.astype(np.float64) * (2.0 / (resolution - 1))).astype(np.float32)


def decoder_field(decoder, code, device=None, batch_size=2**18):
    """A function points (n, 3) numpy -> sdf (n,) numpy evaluating decoder(code, points) in batches."""
    device = device or next(decoder.parameters()).device
    code = torch.as_tensor(code, dtype=torch.float32, device=device).reshape(1, -1)

    @torch.no_grad()
    def field(points):
        out = np.empty(len(points), dtype=np.float32)
        for start in range(0, len(points), batch_size):
            xyz = torch.from_numpy(points[start:start + batch_size]).to(device)
            out[start:start + len(xyz)] = decoder(code.expand(len(xyz), -1), xyz).reshape(-1).float().cpu().numpy()
        return out

    return field


def _check_level(values, where):
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if not (lo < 0 < hi):
        raise NoSurface(f"{where}: the field has no zero crossing on the grid (min {lo:.4g}, max {hi:.4g}); "
                        f"no surface to extract")


def dense_grid(field, resolution):
    """The field at every grid point: (R, R, R) float32, values[i, j, k] at -1 + h * (i, j, k)."""
    return field(grid_points(resolution)).reshape(resolution, resolution, resolution)


def marching_cubes(values, mask=None, where="field"):
    """(vertices (V, 3) float64 in [-1, 1], faces (F, 3) int64) of the level-0 surface of a grid."""
    _check_level(values if mask is None else values[mask], where)
    r = values.shape[0]
    h = 2.0 / (r - 1)
    verts, faces, _, _ = measure.marching_cubes(values, level=0.0, spacing=(h, h, h), mask=mask,
                                                allow_degenerate=False)
    return verts.astype(np.float64) - 1.0, faces.astype(np.int64)


def _lattice(resolution, stride):
    return np.unique(np.r_[np.arange(0, resolution, stride), resolution - 1])


def coarse_to_fine_grid(field, resolution, coarse_stride=8, margin=2.0):
    """Evaluate the field only near the surface.

    Returns (values (R, R, R) float32 with NaN where not evaluated, mask (R, R, R) bool of the grid cells
    (by their lowest corner) that may hold the surface, number of field evaluations).
    """
    r = resolution
    h = 2.0 / (r - 1)
    s = 1 << max(0, int(coarse_stride).bit_length() - 1)  # a power of two
    values = np.full((r, r, r), np.nan, dtype=np.float32)
    evaluations = 0

    flat = values.reshape(-1)
    pending = np.zeros(r * r * r, dtype=bool)

    def evaluate(idx):  # idx (n, 3) grid indices, possibly repeated or already known
        nonlocal evaluations
        pending[(idx[:, 0] * r + idx[:, 1]) * r + idx[:, 2]] = True
        lin = np.flatnonzero(pending & np.isnan(flat))  # each unknown point once, in grid order
        pending[:] = False
        if len(lin):
            i, rest = np.divmod(lin, r * r)
            j, k = np.divmod(rest, r)
            flat[lin] = field(index_to_points(np.stack([i, j, k], 1), r))
            evaluations += len(lin)

    # coarsest level: every lattice point; cells as boxes [lo, hi] of grid indices, (n, 3) each
    lat = _lattice(r, s)
    ii = np.stack(np.meshgrid(lat, lat, lat, indexing="ij"), -1).reshape(-1, 3)
    evaluate(ii)
    c = np.stack(np.meshgrid(*[np.arange(len(lat) - 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    lo, hi = lat[c], lat[c + 1]
    corners = np.array([[a, b, d] for a in (0, 1) for b in (0, 1) for d in (0, 1)], dtype=bool)  # (8, 3)
    while True:
        # corner values of each cell (n, 8); a cell may hold the surface if they change sign or one is close
        cv = np.stack([values[tuple(np.where(k, hi, lo).T)] for k in corners], axis=1)
        diag = h * np.linalg.norm(hi - lo, axis=1)
        active = (cv.min(1) <= 0) & (cv.max(1) >= 0) | (np.abs(cv).min(1) <= margin * diag)
        lo, hi = lo[active], hi[active]
        if s == 1 or len(lo) == 0:
            break
        # split each cell in two along every axis where it is wider than one grid step
        s //= 2
        mid = np.minimum(lo + s, hi)
        new_lo, new_hi = [], []
        for k in corners:  # k: take the upper half along the axes where k is True
            keep = np.all(~k | (mid < hi), axis=1)  # an axis that cannot split has only its lower half
            a = np.where(k, mid, lo)[keep]
            b = np.where(k, hi, np.where(mid < hi, mid, hi))[keep]
            new_lo.append(a)
            new_hi.append(b)
        lo, hi = np.concatenate(new_lo), np.concatenate(new_hi)
        evaluate(np.concatenate([np.where(k, hi, lo) for k in corners]))
    mask = np.zeros((r, r, r), dtype=bool)
    mask[lo[:, 0], lo[:, 1], lo[:, 2]] = True
    return values, mask, evaluations


def extract_mesh(field, resolution=256, method="coarse", coarse_stride=8, margin=2.0, where="field"):
    """Mesh of the level-0 set of `field` (points (n, 3) -> values (n,)) over [-1, 1]^3.

    method: "dense" (every grid point) or "coarse" (coarse-to-fine, the same mesh for far fewer
    evaluations). Returns (vertices (V, 3), faces (F, 3)); raises NoSurface when there is no zero crossing.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if method == "dense":
        return marching_cubes(dense_grid(field, resolution), where=where)
    if method != "coarse":
        raise ValueError(f"method must be 'dense' or 'coarse', got {method!r}")
    values, mask, _ = coarse_to_fine_grid(field, resolution, coarse_stride, margin)
    if not mask.any():
        finite = values[np.isfinite(values)]
        raise NoSurface(f"{where}: the field has no zero crossing on the grid (min {finite.min():.4g}, "
                        f"max {finite.max():.4g}); no surface to extract")
    filled = np.where(np.isnan(values), np.float32(1.0), values)  # never read: those cells are masked out
    return marching_cubes(filled, mask=mask, where=where)
