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
import functools

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
    whose corners are all evaluated, in scikit-image's convention (a cell named by its highest corner),
    number of field evaluations).

    Level by level on the lattice of the current stride s (grid indices 0, s, 2s, ... and R - 1), as dense
    arrays: the cells between neighbouring lattice points that may hold the surface are split in two along
    each axis, and the corners of the halves are evaluated.
    """
    r = resolution
    h = 2.0 / (r - 1)
    s = 1 << max(0, int(coarse_stride).bit_length() - 1)  # a power of two
    values = np.full((r, r, r), np.nan, dtype=np.float32)
    evaluations = 0

    def evaluate(lat, need):  # need (n, n, n) bool over the lattice lat^3: evaluate those not yet known
        nonlocal evaluations
        sub = values if len(lat) == r else values[np.ix_(lat, lat, lat)]  # the finest lattice is the grid
        need &= np.isnan(sub)
        i, j, k = np.nonzero(need)  # each unknown point once, in grid order
        if len(i):
            i, j, k = lat[i], lat[j], lat[k]
            values.reshape(-1)[(i * r + j) * r + k] = field(index_to_points(np.stack([i, j, k], 1), r))
            evaluations += len(i)

    lat = _lattice(r, s)
    evaluate(lat, np.ones((len(lat),) * 3, dtype=bool))  # the coarsest lattice: every point
    cells = np.ones((len(lat) - 1,) * 3, dtype=bool)  # the lattice's cells still in play
    while s > 1:
        # corner values of each cell; a cell may hold the surface if they change sign or one is close
        v = values[np.ix_(lat, lat, lat)]  # (n, n, n), all known where cells are in play
        cv = [v[a:len(lat) - 1 + a, b:len(lat) - 1 + b, c:len(lat) - 1 + c] for a, b, c in _CORNERS]
        w = np.diff(lat) * h  # (n - 1,) cell widths along an axis
        diag = np.sqrt(w[:, None, None] ** 2 + w[None, :, None] ** 2 + w[None, None, :] ** 2)
        with np.errstate(invalid="ignore"):  # NaN corners belong to cells out of play
            lo, hi = functools.reduce(np.minimum, cv), functools.reduce(np.maximum, cv)
            near = functools.reduce(np.minimum, [np.abs(x) for x in cv]) <= margin * diag
            active = cells & (((lo <= 0) & (hi >= 0)) | near)
        if not active.any():
            cells = active
            break
        # halve the stride: each fine cell lies in one coarse cell (a cell one step wide stays as it is)
        s //= 2
        fine = _lattice(r, s)
        parent = np.searchsorted(lat, fine[:-1], side="right") - 1  # (m - 1,) coarse cell of each fine cell
        cells = active[np.ix_(parent, parent, parent)]  # (m - 1,)^3
        need = np.zeros((len(fine),) * 3, dtype=bool)  # the corners of the fine cells in play
        for a, b, c in _CORNERS:
            need[a:len(fine) - 1 + a, b:len(fine) - 1 + b, c:len(fine) - 1 + c] |= cells
        lat = fine
        evaluate(lat, need)
    # the cells in play at the finest stride have all their corners evaluated, and every cell the surface
    # crosses is among them. scikit-image's mask names a cell by its highest corner: mask[i, j, k] lets
    # through the cell from (i-1, j-1, k-1) to (i, j, k).
    mask = np.zeros((r, r, r), dtype=bool)
    if s == 1:
        mask[1:, 1:, 1:] = cells
    return values, mask, evaluations


_CORNERS = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


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
