"""Ray casts against a triangle mesh for the signed distance's tier 3 (source/signed_distance.py): the first
face hit along segments (Embree when embreex is installed, else libigl's AABB walk on a scaled copy of the
mesh), every face hit, all faces met along segments, and signed crossing counts."""
import igl
import numpy as np

# Embree for the first-hit ray casts when embreex is installed (Rays); False: libigl's AABB walk always.
USE_EMBREE = True
# libigl's casts of segments along an axis plane are made a little off it, x the bounding-box diagonal: see
# _hits_along.
TOUCH = 1e-9


def _hits_along(rays, orig, d, eps=1e-6, float64=False, max_hits=64):
    """Every face (up to max_hits) that the segments orig + s d, eps <= s <= 1 - eps, pass through or touch,
    followed from hit to hit: (segment index, face) of each hit. The segments' ends (eps of their length)
    are left out: there they meet their own neighbours.

    Cast by libigl (float64, or no Embree), a segment along an axis plane (a direction component exactly 0: an
    edge of an axis-aligned CAD part, or of a flat cap) is followed as two copies moved TOUCH x the mesh's
    bounding-box diagonal off the plane on either side: a face that the segment touches in that plane (at
    the face's edge) is met by the copy on its side. As it is, such a segment starts on the bounds of its own
    faces' boxes, where libigl's slab test reads 0 x inf = NaN and drops the box's bounds along another
    axis (or rejects the box): the walk then tests every box along a strip of the plane (60 us a segment
    on an embedded lamp's subdivided caps, against 1 us for its copies)."""
    if float64 or rays.scene is None:
        zero = d == 0  # (n, 3)
        in_plane = zero.any(1)
        flat, plain = np.flatnonzero(in_plane), np.flatnonzero(~in_plane)
        if len(flat):
            # the copies: TOUCH along the first zero axis, TOUCH / 2 along the second, either way
            first = zero[flat] & (np.cumsum(zero[flat], axis=1) == 1)
            shift = TOUCH * rays.span * (first + 0.5 * (zero[flat] & ~first))
            seg = np.concatenate([plain, flat, flat])
            s, face = _walk(rays, np.concatenate([orig[plain], orig[flat] + shift, orig[flat] - shift]),
                            d[seg], eps, float64, max_hits)
            pair = np.unique(seg[s] * len(rays.F) + face)  # a face that both copies meet, once
            return pair // len(rays.F), pair % len(rays.F)
    return _walk(rays, orig, d, eps, float64, max_hits)


def _walk(rays, orig, d, eps, float64, max_hits):
    """_hits_along's walk from hit to hit, the segments as they are."""
    length = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
    step = 1e-9 if float64 else np.maximum(1e-9, rays.tol / length)  # past each hit, in units of the segment
    step = np.broadcast_to(step, length.shape)
    pos = np.full(len(d), eps)  # where along each segment the search goes on
    live = np.arange(len(d))
    hit_seg, hit_face = [], []
    for _ in range(max_hits):
        face, t = rays.first_hits(orig[live] + pos[live, None] * d[live], d[live], 1.0 - eps, float64=float64)
        ok = (face >= 0) & (t <= 1.0 - eps - pos[live])
        hit_seg.append(live[ok])
        hit_face.append(face[ok])
        pos[live[ok]] += t[ok] + step[live[ok]]
        live = live[ok]
        if len(live) == 0:
            break
    return np.concatenate(hit_seg), np.concatenate(hit_face)


def _crossings(rays, normals, Q, d, max_crossings, layered, layers=None):
    """Signed count of the faces of a mesh (Rays, unit normals) crossed by the segments Q -> Q + d: + 1 for
    a face whose normal points along d, - 1 against it. Returns the count (n,) and a mask of the segments it
    cannot be trusted on: a hit too close to the segment's end (the anchor might lie on either side of the
    face), two hits or a hit and the query closer than the casts can tell apart (rays.tol), or more than
    max_crossings hits. Segments crossing a face marked in `layered` (faces with another lying on them,
    which a first-hit walk counts once) are recounted: by walks through LayerScenes of those faces (in which no
    two faces that may lie on each other meet) where `layers` (a function of the number of segments to recount)
    gives them, else, and where those cannot settle it, with every hit (libigl), which also settles two hits too
    close for the walk and walks longer than max_crossings."""
    count, plain, unsure, walk_unsure, recount = _walk_counts(rays, normals, Q, d, max_crossings, layered)
    unsure |= walk_unsure & ~recount
    rc = np.flatnonzero(recount)
    easy = rc[~walk_unsure[rc]]  # the others: two hits too close for a walk to tell apart
    scenes = None if layers is None or len(easy) == 0 else layers(len(easy))
    if scenes is not None:
        # the faces not layered as the walk counted them, and the layered ones walk by walk, a scene each; libigl
        # with every hit where a walk could not tell two hits apart, or a face of a patch on itself is there
        total, easy_unsure, hard = scenes.count(Q[easy], d[easy], max_crossings)
        ok = ~hard
        count[easy[ok]] = plain[easy[ok]] + total[ok]
        unsure[easy[ok]] |= easy_unsure[ok]
        rc = np.concatenate([rc[walk_unsure[rc]], easy[hard]])
    if len(rc):  # every hit, coincident ones included
        seg, f = rays.all_hits(Q[rc], d[rc])
        sign = np.sign(np.einsum("nd,nd->n", normals[f], d[rc[seg]]))
        count[rc] = np.bincount(seg, weights=sign, minlength=len(rc))
    return count, unsure


def _walk_counts(rays, normals, Q, d, max_crossings, layered):
    """_crossings' walk from first hit to first hit along the segments Q -> Q + d. Returns (n,) each: the signed
    count of the faces met, the same over the faces not `layered` only, the mask of segments with a hit too close
    to an end, the mask of those with two hits too close to tell apart or more than max_crossings, and the mask
    of those that met a layered face."""
    count = np.zeros(len(Q))
    plain = np.zeros(len(Q))  # the same over the faces not layered
    length = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
    close = rays.tol / length  # (n,) rays.tol in units of each segment
    # A hit's t is not exact, so the walk steps past each hit (1e-6 of the segment, at least rays.tol),
    # and a hit on the face just counted is the same crossing again.
    step = np.maximum(1e-6, close)
    # a hit this close to the anchor (in units of the segment) might be on either side of it: 2 x rays.tol
    # with Embree, whose error is absolute (float32 coordinates; anchors sit 5 tol off their face, so a long
    # segment still tells its anchor from the face behind it), 1e-5 of the segment with libigl (tol 0)
    margin = 2 * close if rays.tol > 0 else np.full(len(Q), 1e-5)
    pos = np.zeros(len(Q))  # how far along each segment the walk is, in units of the segment
    last = np.full(len(Q), -1)  # the face counted last on each segment
    live = np.arange(len(Q))
    recount = np.zeros(len(Q), dtype=bool)
    unsure = np.zeros(len(Q), dtype=bool)
    walk_unsure = np.zeros(len(Q), dtype=bool)  # what a recount with every hit settles
    for _ in range(max_crossings):
        face, t = rays.first_hits(Q[live] + pos[live, None] * d[live], d[live], 1.0 + margin[live])
        hit = face >= 0
        end = pos[live] + t  # where the hit is along the segment
        # a hit this close to the end, or to the start, might be on either side of it; one this close to the
        # hit before might be a second crossing or the same (a face lying on another, met by every-hit recounts)
        near = hit & (t < close[live])
        unsure[live[hit & (np.abs(end - 1.0) <= margin[live]) | near & (pos[live] == 0)]] = True
        walk_unsure[live[near & (pos[live] > 0)]] = True
        ok = hit & (end < 1.0 - margin[live])
        live, face, t = live[ok], face[ok], t[ok]
        new = face != last[live]
        sign = np.sign(np.einsum("nd,nd->n", d[live[new]], normals[face[new]]))
        count[live[new]] += sign
        plain[live[new]] += np.where(layered[face[new]], 0.0, sign)
        recount[live[layered[face]]] = True
        last[live] = face
        pos[live] += t + step[live]
        if len(live) == 0:
            break
    walk_unsure[live] = True  # still hitting faces after max_crossings
    return count, plain, unsure, walk_unsure, recount


def tree_scale(span):
    """The power of two that brings a bounding-box diagonal of `span` to about 4,096 units (see Rays)."""
    return 2.0 ** np.round(np.log2(4096.0 / max(span, 1e-300)))


class ScaledTree:
    """libigl's AABB tree over (V, F) scaled by a power of two (tree_scale of the diagonal `span`), as Rays casts
    against it. squared_distance: libigl's exact squared distance from Q (n, 3): the scale is exact both ways,
    so the answers are those of a tree on the mesh as it is, bit for bit (sq (n,), face (n,), closest (n, 3)).
    Built once, it serves Rays and the forked distance children alike (they share it copy-on-write)."""

    def __init__(self, V, F, span):
        self.scale = tree_scale(span)
        self.V, self.F = V * self.scale, F
        self.aabb = igl.AABB()
        self.aabb.init(self.V, self.F)

    def squared_distance(self, Q):
        sq, face, closest = self.aabb.squared_distance(self.V, self.F, Q * self.scale)
        return sq / self.scale**2, face, closest / self.scale


class Rays:
    """Ray casts against one triangle mesh (V, F): the first face hit along segments, and every face hit.

    libigl's ray-triangle test (Moller and Trumbore's code) takes a ray as parallel to a triangle when the
    determinant e1 . (d x e2) is under 1e-6 in absolute terms, so it misses small triangles and faces met at
    a slant: seen on the 42 CAD chairs and tables (7 crossings in 2.9M segments of tier 3, and cap
    triangles of 5e-7 area, whose crossings the recount then missed). Here libigl casts against the mesh
    scaled by a power of two (exact in floating point) that brings the bounding box to about 4,096 units,
    so the determinant is 1.6e7 times larger and only true slivers are missed.

    First hits come from Embree (embreex) when it is installed: 15-20x faster than libigl's AABB walk on
    the segments of tier 3, and watertight (a ray through an edge shared by two faces hits one of them).
    Embree works in float32, so the mesh is centred first and `tol` (2e-7 of the bounding-box diagonal, a
    few float32 steps) says how close two hits, or a hit and a segment's end, may be before the walk cannot
    tell them apart. Without embreex, libigl's walk is used and `tol` is 0. Every hit (coincident faces
    included, rarely needed) comes from libigl.
    """

    def __init__(self, V, F, use_embree=True, cut=None, tree=None, box=None):
        self.V, self.F = V, F
        # libigl's tree may take the same surface with its long faces cut (V', F', origin: long_faces), which
        # it walks faster; the faces it hits are mapped back to F's
        self.cut = cut
        # box: (lo, hi) corners whose diagonal and centre set span, tol and Embree's frame, where not V's own
        # (LayerScenes: a few faces of a mesh, cast as precisely as the whole)
        lo, hi = (V.min(0), V.max(0)) if box is None else box
        span = float(np.linalg.norm(hi - lo)) if len(V) else 1.0
        self.span = span
        self.scale = tree_scale(span)  # V x scale: ~4,096 units across
        # tree: a ScaledTree of the same faces (the cut ones where given) built by the caller, else built here
        # on first use
        self._tree = tree
        self._origin = None if cut is None else cut[2]
        self.scene, self.tol = None, 0.0
        if use_embree and _embree_available() and len(F):
            from embreex import rtcore_scene
            from embreex.mesh_construction import TriangleMesh

            self.centre = (hi + lo) / 2  # float32 is finest near 0
            self.scene = rtcore_scene.EmbreeScene(robust=True)  # robust: watertight, no ray slips through an edge
            TriangleMesh(self.scene, (V - self.centre).astype(np.float32), F.astype(np.int32))
            self.tol = 2e-7 * span

    @property
    def tree(self):
        """libigl's AABB tree over the scaled mesh (the cut faces where given): a ScaledTree, built on first use."""
        if self._tree is None:
            V, F = (self.V, self.F) if self.cut is None else self.cut[:2]
            self._tree = ScaledTree(V, F, self.span)
        return self._tree

    def squared_distance(self, Q):
        """libigl's exact squared distance from Q (n, 3) to the tree's faces (the cut ones where given), bit for
        bit as on the mesh as it is (ScaledTree). Returns (sq (n,), face of the tree's mesh (n,), closest (n, 3))."""
        return self.tree.squared_distance(Q)

    def _faces(self, face):
        """Faces of F from the faces of the tree's mesh (-1 stays -1)."""
        if self._origin is None:
            return face
        return np.where(face >= 0, self._origin[np.maximum(face, 0)], -1)

    def first_hits(self, orig, d, max_t, float64=False):
        """First face hit by each segment orig + t d, 0 <= t <= max_t (a number, or one per segment), and its t
        (face -1 where none). Cast with unit directions, and t converted back. float64: libigl's walk even
        where Embree is there."""
        if len(d) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        length = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
        unit = d / length[:, None]
        if self.scene is not None and not float64:
            hit = self.scene.run((orig - self.centre).astype(np.float32), unit.astype(np.float32),
                                 dists=(max_t * length).astype(np.float32), output=1)
            face, t = hit["primID"].astype(np.int64), hit["tfar"].astype(np.float64)
        else:
            # libigl takes one max_t for all rays: rays are cast in groups of similar length (within 2x), so that
            # a short segment's search stops near its end, not at the longest segment's
            tree, reach = self.tree, np.broadcast_to(max_t * length, length.shape) * self.scale
            group = np.floor(np.log2(np.maximum(reach, 1e-300))).astype(np.int64)
            face, t = np.empty(len(d), dtype=np.int64), np.empty(len(d))
            for g in np.unique(group):
                i = np.flatnonzero(group == g)
                face[i], t[i], _ = tree.aabb.intersect_ray_first(tree.V, tree.F, orig[i] * self.scale, unit[i],
                                                            float(reach[i].max()))
            face, t = self._faces(face), t / self.scale
        t = t / length
        face = np.where((face >= 0) & (t <= max_t), face, -1)
        return face, t

    def all_hits(self, orig, d, max_t=1.0):
        """Every face hit by each segment orig + t d, 0 <= t <= max_t, coincident faces included: (segment
        index, face) of each hit, flat arrays."""
        none = np.zeros(0, dtype=np.int64)
        if len(d) == 0:
            return none, none
        length = np.maximum(np.linalg.norm(d, axis=1), 1e-300)
        tree = self.tree
        hits = tree.aabb.intersect_ray(tree.V, tree.F, orig * self.scale, d / length[:, None])
        n = np.array([len(hs) for hs in hits], dtype=np.int64)
        if n.sum() == 0:
            return none, none
        flat = np.array([h[:2] for hs in hits for h in hs])  # (hits, 2): face, t (scaled units)
        seg, face, t = np.repeat(np.arange(len(d)), n), flat[:, 0].astype(np.int64), flat[:, 1]
        keep = (t >= 0.0) & (t <= max_t * length[seg] * self.scale)
        seg, face = seg[keep], self._faces(face[keep])
        if self._origin is not None:  # a segment through a cut meets both of its pieces: one face, once
            pair = np.unique(seg * len(self.F) + face)
            seg, face = pair // len(self.F), pair % len(self.F)
        return seg, face


class LayerScenes:
    """The faces of a mesh that another may lie on (`layered` in _crossings) in Embree scenes of their own, so
    that first-hit walks count every one of them: no two faces that may lie on each other share a scene (their
    colour, SignedDistance._layer_scenes). A segment whose walk met a layered face is then recounted as the faces
    not layered that the walk counted plus one walk per scene (a few casts each) instead of libigl's cast of every
    hit along the whole unbounded ray (10-13 us a segment: 13,632 segments, 0.14-0.18 s, of the embedded
    table_001's set-up). Faces that may lie on others of their own colour (`odd`: flat patches that overlap
    themselves) are only looked for: a segment that meets one keeps libigl's recount.

    V (nv, 3), F (nf, 3), normals (nf, 3): the mesh and its unit normals; colour (nf,): the scene of each layered
    face, 0..k-1 (-1: none); odd (nf,) bool. Each scene is cast in the whole mesh's frame (Rays, box), so its
    casts resolve hits as finely as the mesh's own.
    """

    def __init__(self, V, F, normals, colour, odd):
        box = (V.min(0), V.max(0))
        scene = lambda f: Rays(*_compact(V, F[f]), box=box)
        self.parts = [(scene(f), normals[f]) for f in (np.flatnonzero(colour == c) for c in range(int(colour.max()) + 1))
                      if len(f)] if len(colour) else []
        f = np.flatnonzero(odd)
        self.odd = scene(f) if len(f) else None

    def count(self, Q, d, max_crossings):
        """Signed crossings of the layered faces along the segments Q -> Q + d, walked scene by scene: count (n,),
        unsure (n,) (a hit too close to an end, as _crossings), and hard (n,): the segments these walks cannot
        settle (two hits too close to tell apart, more than max_crossings, or a face of `odd` met)."""
        total, unsure, hard = np.zeros(len(Q)), np.zeros(len(Q), dtype=bool), np.zeros(len(Q), dtype=bool)
        if len(Q) == 0:
            return total, unsure, hard
        for rays, normals in self.parts:
            c, _, u, too_close, _ = _walk_counts(rays, normals, Q, d, max_crossings, np.zeros(len(rays.F), dtype=bool))
            total += c
            unsure |= u
            hard |= too_close
        if self.odd is not None:
            face, _ = self.odd.first_hits(Q, d, 1.0 + 1e-3)
            hard |= face >= 0
        return total, unsure, hard


def _compact(V, F):
    """(V', F'): only the vertices that the faces F use, F renumbered into them."""
    used, inv = np.unique(F.reshape(-1), return_inverse=True)
    return V[used], inv.reshape(F.shape)


def _embree_available():
    """embreex 4 (Embree 4, watertight scenes) is installed and wanted. requirements.txt installs it where
    wheels exist (Linux and Windows on x86-64); elsewhere libigl casts the rays."""
    if not USE_EMBREE:
        return False
    try:
        import embreex
    except ImportError:
        return False
    return int(str(getattr(embreex, "__version__", "0")).split(".")[0]) >= 4
