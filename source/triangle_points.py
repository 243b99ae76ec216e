"""Points on triangles: strips of test points at a given spacing, barycentric coordinates, corner angles."""
import numpy as np


def _strip_points(tri, h):
    """Test points covering triangles tri (n, 3, 3) with gaps of at most h: rows parallel to the shortest
    edge, h apart, each with points h apart. Returns points (m, 3), the triangle of each (m,), and a function
    (i, bary) -> index of the point of triangle i whose cell holds the point at barycentric coordinates bary."""
    opp = np.linalg.norm(tri[:, [1, 2, 0]] - tri[:, [2, 0, 1]], axis=2)  # (n, 3): edge opposite each corner
    r = np.arange(len(tri))
    a = np.argmin(opp, axis=1)  # apex: the corner opposite the shortest edge
    A, B, C = tri[r, a], tri[r, (a + 1) % 3], tri[r, (a + 2) % 3]
    rows = np.ceil(np.maximum(np.linalg.norm(B - A, axis=1), np.linalg.norm(C - A, axis=1)) / h).astype(np.int64)
    first_row = np.cumsum(rows) - rows  # (n,) index of each triangle's first row
    f = np.repeat(r, rows)  # one entry per row
    s = (np.arange(len(f)) - np.repeat(first_row, rows) + 0.5) / rows[f]  # row position from the apex
    per_row = np.maximum(1, np.ceil(s * opp[f, a[f]] / h)).astype(np.int64)  # the row is s x |BC| long
    first_point = np.cumsum(per_row) - per_row  # (rows,) index of each row's first point
    g = np.repeat(np.arange(len(f)), per_row)  # one entry per point
    u = (np.arange(len(g)) - np.repeat(first_point, per_row) + 0.5) / per_row[g]
    face, s = f[g], s[g][:, None]
    u = u[:, None]
    pts = A[face] + s * ((1 - u) * (B - A)[face] + u * (C - A)[face])

    def cell(i, bary):
        # the point is A + s ((1 - u) (B - A) + u (C - A)): s = 1 - bary_A, u = bary_C / s
        bary = np.nan_to_num(bary)  # NaN on degenerate faces: any of their points will do
        s = 1.0 - bary[np.arange(len(i)), a[i]]
        row = first_row[i] + np.clip(np.floor(s * rows[i]).astype(np.int64), 0, rows[i] - 1)
        u = np.clip(bary[np.arange(len(i)), (a[i] + 2) % 3] / np.maximum(s, 1e-300), 0.0, 1.0)
        return first_point[row] + np.clip(np.floor(u * per_row[row]).astype(np.int64), 0, per_row[row] - 1)

    return pts, face, cell


def barycentric_in_faces(tri):
    """A function (face (n,), p (n, 3)) -> the barycentric coordinates of points p in the triangles
    tri[face] (tri: (nf, 3 corners, 3)), with each triangle's own terms computed once here (its corner, edges
    and Gram determinant: 13 floats per face) instead of gathering its corners per point."""
    o, v0, v1 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) > 0, d00 * d11 - d01 * d01, 1.0)

    def at(face, p):
        v2 = p - o[face]
        d20, d21 = (v2 * v0[face]).sum(1), (v2 * v1[face]).sum(1)
        a, b, c, dn = d00[face], d01[face], d11[face], den[face]
        b1 = (c * d20 - b * d21) / dn
        b2 = (a * d21 - b * d20) / dn
        return np.stack([1.0 - b1 - b2, b1, b2], axis=1)

    return at


def _corner_angles(tri):
    """Interior angle at each corner of each triangle, (nf, 3)."""
    out = np.empty(tri.shape[:2])
    for k in range(3):
        a = tri[:, (k + 1) % 3] - tri[:, k]
        b = tri[:, (k + 2) % 3] - tri[:, k]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
        out[:, k] = np.arccos(np.clip(cos, -1.0, 1.0))
    return out
