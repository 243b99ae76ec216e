"""DeepSDF's own sign rule, without OpenGL: virtual scans of the mesh and an 11-nearest-neighbour vote.

The original (src/PreprocessMesh.cpp) renders the normalised mesh from 100 orthographic cameras spread
evenly on a sphere, 400 x 400 pixels each, and keeps every visible point with its triangle's normal
turned towards the camera. A query point then looks up its 11 nearest scanned points: each votes
"outside" when the point lies on the side its normal faces. Points without a unanimous vote are dropped.
The distance is to the nearest scanned point, or to its tangent plane when that point is closer than one
standard deviation of the first perturbation. The scans also give the original's two trust statistics:
the share of observations that see a triangle from behind ("wrong observations") and the share of
triangles seen from both sides ("bad triangles"); the original meant to reject a mesh above 2% and 3%.

Here the cameras are a numpy z-buffer rasteriser (`render_view`): the same pictures, no GPU or display.
"""
import numpy as np

from .forked_distance import igl_threads

# The original's defaults.
VIEWS = 100
RESOLUTION = 400
VOTES = 11
MAX_WRONG_OBSERVATIONS = 0.02
MAX_BAD_TRIANGLES = 0.03


def sphere_directions(n):
    """n unit vectors spread evenly over the sphere (a golden-angle spiral)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (3.0 - np.sqrt(5.0)) * k
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def unit_normals(V, F):
    """Unit normals of triangles F (n, 3) over vertices V, by their winding (zero-area ones stay 0)."""
    cross = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    return cross / np.maximum(np.linalg.norm(cross, axis=1), 1e-300)[:, None]


def camera_basis(direction):
    """Orthonormal (d, u, v): d the viewing direction (camera to scene), u and v the image axes."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    helper = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, d)
    u /= np.linalg.norm(u)
    return d, u, np.cross(d, u)


def render_view(V, F, direction, resolution=RESOLUTION, max_fragments=2_000_000):
    """Orthographic z-buffer of the triangles (V, F) seen along `direction`, image over [-1, 1]^2.

    Returns (triangle, depth, points): per pixel (resolution^2, row-major over (u, v)) the visible
    triangle (-1 where none) and its depth along the direction, and the 3D points of the hit pixels
    (H, 3), in pixel order. Pixel centres are sampled; triangles seen edge-on cover no pixel.
    Triangles are rasterised in chunks of at most `max_fragments` candidate pixels (bounded memory).
    """
    d, u, v = camera_basis(direction)
    h = 2.0 / resolution
    a, b, z = V @ u, V @ v, V @ d  # image coordinates and depth of every vertex
    ta, tb, tz = a[F], b[F], z[F]  # (nf, 3)
    # pixel index ranges whose centres (-1 + (i + 0.5) h) can fall inside each triangle
    i0 = np.clip(np.ceil((ta.min(1) + 1) / h - 0.5), 0, resolution).astype(np.int64)
    i1 = np.clip(np.floor((ta.max(1) + 1) / h - 0.5), -1, resolution - 1).astype(np.int64)
    j0 = np.clip(np.ceil((tb.min(1) + 1) / h - 0.5), 0, resolution).astype(np.int64)
    j1 = np.clip(np.floor((tb.max(1) + 1) / h - 0.5), -1, resolution - 1).astype(np.int64)
    wi, wj = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
    area2 = (ta[:, 1] - ta[:, 0]) * (tb[:, 2] - tb[:, 0]) - (ta[:, 2] - ta[:, 0]) * (tb[:, 1] - tb[:, 0])
    count = np.where(np.abs(area2) > 1e-18, wi * wj, 0)

    zbuf = np.full(resolution * resolution, np.inf)
    tbuf = np.full(resolution * resolution, -1, dtype=np.int64)
    faces = np.flatnonzero(count)
    cum = np.cumsum(count[faces])
    start = 0
    while start < len(faces):
        # the next chunk of triangles: as many as fit in max_fragments candidate pixels (at least one)
        stop = max(start + 1, int(np.searchsorted(cum, (cum[start - 1] if start else 0) + max_fragments, "right")))
        f = faces[start:stop]
        n = count[f]
        tri = np.repeat(f, n)  # (K,) triangle of each candidate pixel
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        pi = i0[tri] + k // wj[tri]
        pj = j0[tri] + k % wj[tri]
        pa, pb = -1 + (pi + 0.5) * h, -1 + (pj + 0.5) * h
        # barycentric coordinates from 2D edge functions, normalised by the signed area
        A, B = ta[tri], tb[tri]
        l0 = ((A[:, 1] - pa) * (B[:, 2] - pb) - (A[:, 2] - pa) * (B[:, 1] - pb)) / area2[tri]
        l1 = ((A[:, 2] - pa) * (B[:, 0] - pb) - (A[:, 0] - pa) * (B[:, 2] - pb)) / area2[tri]
        l2 = 1.0 - l0 - l1
        inside = (l0 >= -1e-12) & (l1 >= -1e-12) & (l2 >= -1e-12)
        pix = (pi * resolution + pj)[inside]
        depth = (l0 * tz[tri, 0] + l1 * tz[tri, 1] + l2 * tz[tri, 2])[inside]
        tri = tri[inside]
        # nearest fragment per pixel within the chunk, then against the buffer
        order = np.lexsort((depth, pix))
        first = np.r_[True, pix[order][1:] != pix[order][:-1]]
        sel = order[first]
        closer = depth[sel] < zbuf[pix[sel]]
        zbuf[pix[sel][closer]] = depth[sel][closer]
        tbuf[pix[sel][closer]] = tri[sel][closer]
        start = stop
    hit = tbuf >= 0
    pi, pj = np.divmod(np.flatnonzero(hit), resolution)
    points = (-1 + (pi + 0.5) * h)[:, None] * u + (-1 + (pj + 0.5) * h)[:, None] * v + zbuf[hit][:, None] * d
    return tbuf, zbuf, points


class VirtualScan:
    """The surface as DeepSDF's virtual cameras see it: points, normals towards the cameras, statistics.

    points (P, 3), normals (P, 3) unit, turned towards the camera that saw them;
    wrong_observations: share of observations that see their triangle from behind (normal away from the
    camera); bad_triangles: share of all triangles seen from both sides.
    """

    def __init__(self, V, F, views=VIEWS, resolution=RESOLUTION):
        V = np.asarray(V, dtype=np.float64)
        F = np.asarray(F, dtype=np.int64)
        normals = unit_normals(V, F)
        seen_front = np.zeros(len(F), dtype=bool)
        seen_back = np.zeros(len(F), dtype=bool)
        points, norms, wrong, total = [], [], 0, 0
        for d in sphere_directions(views):  # unit viewing directions
            tri, _, pts = render_view(V, F, d, resolution)
            tri = tri[tri >= 0]
            n = normals[tri]
            back = n @ d > 0  # the normal points away from the camera: the triangle is seen from behind
            seen_back[tri[back]] = True
            seen_front[tri[~back]] = True
            n[back] *= -1
            wrong += int(back.sum())
            total += len(tri)
            points.append(pts)
            norms.append(n)
        self.points = np.concatenate(points) if points else np.zeros((0, 3))
        self.normals = np.concatenate(norms) if norms else np.zeros((0, 3))
        self.wrong_observations = wrong / max(total, 1)
        self.bad_triangles = float((seen_front & seen_back).sum()) / max(len(F), 1)
        self._tree = None

    def untrusted_reason(self, max_wrong=MAX_WRONG_OBSERVATIONS, max_bad=MAX_BAD_TRIANGLES):
        """None, or why the original's rule would reject this mesh."""
        if len(self.points) == 0:
            return "the virtual cameras see no surface"
        why = []
        if self.wrong_observations > max_wrong:
            why.append(f"{100 * self.wrong_observations:.1f}% of observations see a triangle from behind")
        if self.bad_triangles > max_bad:
            why.append(f"{100 * self.bad_triangles:.1f}% of triangles are seen from both sides")
        return "; ".join(why) or None

    def signed_distance(self, Q, stdv=np.sqrt(0.005), votes=VOTES, chunk=100_000):
        """The original's rule at points Q (n, 3): (sdf (n,), kept (n,) bool), negative inside.

        Each query's `votes` nearest scanned points vote outside when (q - p) . n > 0; only unanimous
        queries are kept (sdf of the others is NaN). |sdf| is the distance to the nearest scanned point,
        or to its tangent plane when that point is closer than `stdv`.
        """
        from scipy.spatial import cKDTree

        if self._tree is None:
            # balanced_tree/compact_nodes off: much faster queries far from the points
            self._tree = cKDTree(self.points, balanced_tree=False, compact_nodes=False)
        Q = np.asarray(Q, dtype=np.float64)
        sdf = np.full(len(Q), np.nan)
        # queries in grid-cell order: neighbouring queries walk the same tree nodes (1.5x faster)
        cell = np.clip(((Q + 1) * 32).astype(np.int64), 0, 63)
        order = np.lexsort((cell[:, 2], cell[:, 1], cell[:, 0]))
        threads = igl_threads()  # a sampling worker's share of the cores
        for s in range(0, len(Q), chunk):
            sel = order[s : s + chunk]
            q = Q[sel]
            dist, idx = self._tree.query(q, k=votes, workers=threads)
            dist, idx = dist.reshape(len(q), votes), idx.reshape(len(q), votes)
            ray = q[:, None, :] - self.points[idx]  # (n, votes, 3)
            dots = np.einsum("nkd,nkd->nk", ray, self.normals[idx])
            outside = (dots > 0).sum(1)
            near = dist[:, 0] < stdv
            mag = np.where(near, np.abs(dots[:, 0]), dist[:, 0])
            unanimous = (outside == 0) | (outside == votes)
            sdf[sel] = np.where(unanimous, np.where(outside > votes // 2, mag, -mag), np.nan)
        return sdf, ~np.isnan(sdf)
