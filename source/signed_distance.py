"""Signed distance to a triangle soup that is right on broken meshes (DeepSDF convention: negative inside).

Magnitude: libigl's exact point-to-triangle distance. Sign: the generalised winding number w, with
inside = |w| > 0.5, which stays right on overlapping parts without a boolean union, holes and flipped
parts (see docs/benchmarks.md). Evaluating w at every query costs 1.5x-5x the distance query on small
meshes, so the sign is computed in three tiers, cheapest first:

1. Face sides. w is evaluated just off both sides of every face (4 points a side). A small face
   whose points agree, inside on one side and outside on the other, is "clean" and gets a label. Large faces get none: another part
   may cross them between the test points, as CAD parts often do.
2. Each query's closest point c (from the distance query) lies inside a face, on an edge or on a
   vertex. Inside a clean face: the query takes the label of the side it is on (the segment from the query
   to c crosses no surface, so the sign is the same as just off c). On an edge or vertex whose faces
   are all "clean" (one side in, one side out): the sign of (q - c) . pseudonormal, built from those
   faces' normals turned outward by their labels (Baerentzen and Aanaes, with the orientation taken
   from w rather than trusted from the file).
3. Everything else (faces crossed by other parts, non-manifold edges, internal faces at edges):
   w evaluated at the query itself.

For meshes with many faces relative to queries, tier 1 would cost more than it saves; then w is
evaluated at every query directly.

Tiers 1-2 are off by default (face_labels=False): they assume that each face is wound like its
neighbours. Just off a single flipped face its own half-turn dominates w, so its label comes out
reversed and the queries near it get the wrong sign (92% right on a sphere with 10% of its faces
flipped, where w at the queries is 99.97% right). Whole parts turned inside out are fixed beforehand
by orient_components, so they are safe; single flipped faces are not. Use face_labels=True only for
meshes known to be consistently wound (scans, remeshed or subdivided models).
"""
import igl
import numpy as np

# Barycentric positions of the 4 test points per face side: the centroid and one towards each corner.
_TEST_BARY = np.array([[1 / 3, 1 / 3, 1 / 3], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
_BARY_EPS = 1e-9
# Longest edge of a face labelled in tier 1, as a share of the mesh's bounding-box diagonal x 2.
LABEL_SPACING = 0.03


def winding_number(V, F, Q):
    """Fast generalised winding number of triangle soup (V, F) at points Q (n x 3)."""
    if len(Q) == 0:
        return np.zeros(0)
    return igl.fast_winding_number(V, F, np.ascontiguousarray(Q, dtype=np.float64))


def unsigned_distance(V, F, Q):
    """Exact distance from Q to the mesh, plus the closest face index and closest point."""
    sq, face, closest = igl.point_mesh_squared_distance(np.ascontiguousarray(Q, dtype=np.float64), V, F)
    return np.sqrt(sq), face.astype(np.int64), closest


class SignedDistance:
    """Signed distance queries against one mesh; build once, query in chunks (bounded memory).

    V: (nv, 3) float, F: (nf, 3) int. Vertices need not be merged: topology is built on a copy with
    coincident vertices merged, as CAD files often repeat them along seams.
    """

    def __init__(self, V, F, queries_hint=500_000, orient_parts=True, face_labels=False):
        self.V = np.ascontiguousarray(V, dtype=np.float64)
        self.F = np.ascontiguousarray(F, dtype=np.int64)
        if orient_parts:
            self.F = orient_components(self.V, self.F)
        tri = self.V[self.F]  # (nf, 3 corners, 3)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area2 = np.linalg.norm(cross, axis=1)
        self.normals = cross / np.maximum(area2, 1e-300)[:, None]
        self.area = 0.5 * area2
        span = np.linalg.norm(self.V.max(0) - self.V.min(0))
        self.longest = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(1)
        # Tiers 1-2 pay off when the test points (8 per face) are few next to the queries and most
        # faces are small enough to be labelled; otherwise w is evaluated at every query.
        self.use_labels = face_labels and (8 * len(self.F) < queries_hint / 2) and np.median(self.longest) <= LABEL_SPACING * span / 2
        self.side_w = None
        if self.use_labels:
            self._label_faces(tri)
            self._build_pseudonormals(tri)

    # ---- tier 1: which side of each face is inside ----
    def _side_w(self, tri, faces):
        """w just off both sides of the faces' 4 test points: (w_plus, w_minus, owner face)."""
        span = np.linalg.norm(self.V.max(0) - self.V.min(0))
        pts = np.einsum("kj,fjd->fkd", _TEST_BARY, tri[faces]).reshape(-1, 3)
        owner = np.repeat(faces, len(_TEST_BARY))
        off = 1e-6 * span * self.normals[owner]
        w = winding_number(self.V, self.F, np.concatenate([pts + off, pts - off]))
        return w[: len(pts)], w[len(pts) :], owner

    def _label_faces(self, tri):
        nf = len(self.F)
        w_plus, w_minus, owner = self._side_w(tri, np.arange(nf))
        self.side_w = (w_plus, w_minus, owner)  # kept for the trust statistics
        count = np.bincount(owner, minlength=nf)
        plus = np.bincount(owner, weights=np.abs(w_plus) > 0.5, minlength=nf)
        minus = np.bincount(owner, weights=np.abs(w_minus) > 0.5, minlength=nf)
        # a side is labelled only if all its test points agree
        agree = ((plus == 0) | (plus == count)) & ((minus == 0) | (minus == count))
        # Only small faces get a label: on a large face, another part may cross between the test
        # points (CAD parts often touch or cross the big faces of others); those fall back to tier 3.
        span = np.linalg.norm(self.V.max(0) - self.V.min(0))
        self.face_ok = agree & (self.area > 1e-14 * span**2) & (self.longest <= LABEL_SPACING * span / 2)
        self.plus_in = plus == count
        self.minus_in = minus == count
        # +1: the stored normal points outside; -1: it points inside; 0: not a clean boundary face.
        # Only clean faces are used: just off a flipped face w is near 0 on both sides (its own
        # half-turn cancels the rest), so "both sides outside" cannot be trusted, and internal faces
        # ("both inside") are left to tier 3 as well.
        clean = self.face_ok & (self.plus_in != self.minus_in)
        self.out_sign = np.where(clean, np.where(self.plus_in, -1.0, 1.0), 0.0)

    def _build_pseudonormals(self, tri):
        # Merge coincident vertices for topology only (ids of the merged vertex per original vertex).
        vid = merged_vertex_ids(self.V)
        Fm = vid[self.F]  # (nf, 3) merged ids
        nv = int(vid.max()) + 1
        on = self.normals * self.out_sign[:, None]  # outward unit normals, 0 for unclean faces
        bad = (self.out_sign == 0).astype(np.float64)
        # Vertex pseudonormals: angle-weighted sum of outward normals of incident faces.
        ang = _corner_angles(tri)  # (nf, 3)
        self.vnormal = np.zeros((nv, 3))
        self.vbad = np.zeros(nv)
        for k in range(3):
            np.add.at(self.vnormal, Fm[:, k], ang[:, k, None] * on)
            np.add.at(self.vbad, Fm[:, k], bad)
        # Edge pseudonormals: sum of outward normals of the faces sharing the edge (edge k is opposite
        # corner k). Exactly two incident faces are needed, otherwise the edge falls back to tier 3.
        e = np.stack([Fm[:, [1, 2]], Fm[:, [2, 0]], Fm[:, [0, 1]]], axis=1).reshape(-1, 2)  # (nf*3, 2)
        e.sort(axis=1)
        key = e[:, 0] * nv + e[:, 1]
        uniq, inv, count = np.unique(key, return_inverse=True, return_counts=True)
        enormal = np.zeros((len(uniq), 3))
        np.add.at(enormal, inv, np.repeat(on, 3, axis=0))
        ebad = np.zeros(len(uniq))
        np.add.at(ebad, inv, np.repeat(bad, 3))
        ebad += count != 2
        self.edge_of = inv.reshape(-1, 3)  # (nf, 3) unique edge id of edge k of face f
        self.enormal, self.ebad, self.vid = enormal, ebad, vid
        self.Fm = Fm

    # ---- queries ----
    def __call__(self, Q, chunk=100_000):
        """Signed distance at Q (n x 3), negative inside. Processed in chunks of `chunk` points."""
        Q = np.asarray(Q, dtype=np.float64)
        out = np.empty(len(Q))
        for s in range(0, len(Q), chunk):
            out[s : s + chunk] = self._query(Q[s : s + chunk])
        return out

    def _query(self, Q):
        dist, face, closest = unsigned_distance(self.V, self.F, Q)
        if not self.use_labels:
            return np.where(np.abs(winding_number(self.V, self.F, Q)) > 0.5, -dist, dist)
        inside = np.zeros(len(Q), dtype=bool)
        known = np.zeros(len(Q), dtype=bool)
        bary = _barycentric(self.V[self.F[face]], closest)  # (n, 3)
        small = bary < _BARY_EPS
        nsmall = small.sum(1)
        delta = Q - closest
        # closest point inside a face: the label of the side the query is on
        m = (nsmall == 0) & (self.out_sign[face] != 0)
        side_plus = np.einsum("nd,nd->n", delta[m], self.normals[face[m]]) > 0
        inside[m] = np.where(side_plus, self.plus_in[face[m]], self.minus_in[face[m]])
        known |= m
        # closest point on an edge (one barycentric coordinate ~0): edge opposite that corner
        m = nsmall == 1
        if m.any():
            k = np.argmax(small[m], axis=1)
            eid = self.edge_of[face[m], k]
            good = self.ebad[eid] == 0
            idx = np.flatnonzero(m)[good]
            inside[idx] = np.einsum("nd,nd->n", delta[idx], self.enormal[eid[good]]) < 0
            known[idx] = True
        # closest point on a vertex (two coordinates ~0): the corner with the largest coordinate
        m = nsmall == 2
        if m.any():
            k = np.argmax(bary[m], axis=1)
            v = self.Fm[face[m], k]
            good = self.vbad[v] == 0
            idx = np.flatnonzero(m)[good]
            inside[idx] = np.einsum("nd,nd->n", delta[idx], self.vnormal[v[good]]) < 0
            known[idx] = True
        rest = ~known
        inside[rest] = np.abs(winding_number(self.V, self.F, Q[rest])) > 0.5
        self.last_fallback = rest.mean() if len(Q) else 0.0
        return np.where(inside, -dist, dist)

    # ---- trust ----
    def ambiguous_area_fraction(self, low=0.3, high=0.7):
        """Share of the surface area where w just off the surface is far from a whole number.

        On a closed surface (even with overlapping or flipped parts) w is near an integer everywhere
        off the surface; on an open sheet it is near 0.5 on both sides, near a hole in between.
        Each test point stands for an equal share of its face's area.
        """
        if self.side_w is not None:
            w_plus, w_minus, owner = self.side_w
        else:  # tier 1 was skipped (large mesh): estimate on an area-weighted sample of faces
            rng = np.random.default_rng(0)
            faces = np.unique(rng.choice(len(self.F), size=min(20_000, len(self.F)), p=self.area / self.area.sum()))
            w_plus, w_minus, owner = self._side_w(self.V[self.F], faces)
        amb = lambda w: ((np.abs(w) > low) & (np.abs(w) < high)).astype(np.float64)
        weight = self.area[owner] / np.bincount(owner, minlength=len(self.F))[owner]
        return float(((amb(w_plus) + amb(w_minus)) / 2 * weight).sum() / max(weight.sum(), 1e-300))


def merged_vertex_ids(V):
    """Id of each vertex after merging coincident ones (CAD files repeat vertices along seams)."""
    _, vid = np.unique(np.round(V, 12), axis=0, return_inverse=True)
    return vid.reshape(-1)


def orient_components(V, F):
    """Flip every connected part whose signed volume is negative (a part modelled inside out).

    Parts of CAD models are often stored with inward normals; where such a part overlaps another,
    the winding numbers cancel (+1 - 1 = 0) and the overlap would read as outside.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # Parts are sets of faces joined through shared edges (parts that touch at a vertex stay apart).
    Fm = merged_vertex_ids(V)[F]
    e = np.sort(np.stack([Fm[:, [0, 1]], Fm[:, [1, 2]], Fm[:, [2, 0]]], axis=1).reshape(-1, 2), axis=1)
    _, edge = np.unique(e[:, 0] * (int(Fm.max()) + 1) + e[:, 1], return_inverse=True)
    face = np.repeat(np.arange(len(F)), 3)
    # bipartite graph faces - edges; its components are the parts
    nf, ne = len(F), int(edge.max()) + 1
    g = coo_matrix((np.ones(len(face)), (face, nf + edge.reshape(-1))), shape=(nf + ne, nf + ne))
    _, label = connected_components(g, directed=False)
    part = label[:nf]
    tri = V[F] - V[F].reshape(-1, 3).mean(0)
    vol = np.einsum("nd,nd->n", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6
    flip = np.bincount(part, weights=vol) < 0
    return np.where(flip[part][:, None], F[:, ::-1], F)


def _barycentric(tri, p):
    """Barycentric coordinates of points p (n, 3) in triangles tri (n, 3, 3)."""
    v0, v1, v2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], p - tri[:, 0]
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) > 0, d00 * d11 - d01 * d01, 1.0)
    b1 = (d11 * d20 - d01 * d21) / den
    b2 = (d00 * d21 - d01 * d20) / den
    return np.stack([1.0 - b1 - b2, b1, b2], axis=1)


def _corner_angles(tri):
    """Interior angle at each corner of each triangle, (nf, 3)."""
    out = np.empty(tri.shape[:2])
    for k in range(3):
        a = tri[:, (k + 1) % 3] - tri[:, k]
        b = tri[:, (k + 2) % 3] - tri[:, k]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
        out[:, k] = np.arccos(np.clip(cos, -1.0, 1.0))
    return out
