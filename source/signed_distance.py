"""Signed distance to a triangle soup that is right on broken meshes (DeepSDF convention: negative inside).

Magnitude: libigl's exact point-to-triangle distance, its tree built on the faces with the long ones cut
(long_faces: the same surface, which the tree splits better; 2x faster on CAD tables). Sign: the
generalised winding number w, with
inside = |w| > 0.5, which stays right on overlapping parts without a boolean union, holes and flipped
parts (see docs/benchmarks.md). Evaluating w at every query costs 1.6x-5x the distance query, so the
sign is computed in tiers, cheapest first:

0. Repair. A double-sided mesh keeps one face of each twin pair (drop_twin_faces). Faces wound against
   their neighbours are turned to agree with the majority of their patch (faces joined by manifold
   edges), and parts whose volume is negative are turned inside out (orient_components).
1. Face sides. w is evaluated just off both sides of every face at test points no further apart than the label
   spacing (the centroid of a small face, rows of points on a larger one, so that a part lying flat against the
   face shows up at a test point; w there is taken on the faces cut to at most WINDING_SPLIT long,
   split_long_faces, which the fast winding number reads better). A face whose points agree, inside on one side
   and outside on the other, and that no edge of the mesh passes through (parts crossing it, however thin), is
   "clean" and gets a label. On a closed mesh w is the same just off every face of a region that nothing
   crosses or touches (faces joined by two-face edges, none crossed, none within 1e-4 of the plane of a face it
   is not joined to and near it, none in a flat patch that lies on itself): there w is evaluated at every 8th
   test point of each region only (the probes), and carried to the rest when those agree. Where w is dear (thin
   faces) every 256th takes it by counting the crossings out of the mesh's box, where w is 0, and the other
   probes by counting crossings from those; w is evaluated only where a count is refused. On an
   open mesh the same holds for w minus the caps' winding number (tier 3), with the faces that the caps cross
   left out of the regions too. The test points of faces in no region (crossed ones, mostly) take w from the
   nearest point of a trusted region, carried by counting the faces the segment between them crosses, as tier
   3 does; w is evaluated only where that count cannot be trusted. Slivers (narrower than SLIVER offsets) get no label: a point just off them may
   lie beyond a neighbouring face; so may a point just off a face where a part folds back on itself more thinly
   than the offset, which a cast back to its face finds (_beyond_other_faces): such points keep their place
   among their region's probes, but their w is evaluated, not carried from the region, and no count starts from
   them.
2. Each query's closest point c (from the distance query) lies inside a face, on an edge or on a
   vertex. Inside a clean face: the query takes the label of the side it is on (the segment from the query
   to c crosses no surface, so the sign is the same as just off c). On an edge or vertex whose faces
   are all "clean" (one side in, one side out): the sign of (q - c) . pseudonormal, built from those
   faces' normals turned outward by their labels (Baerentzen and Aanaes, with the orientation taken
   from w rather than trusted from the file). On an open mesh w also varies away from the surface near a
   hole: faces with a side where |w| is between 0.3 and 0.7 get no label, and their queries go to tier 3.
3. Everything else (faces crossed by other parts, non-manifold edges, internal faces, open sheets):
   w at the query, carried over from a tier-1 test point (the one next to the query's closest point, on
   the query's side of that face) along a straight segment by counting the faces it crosses
   (continued_winding_number, ray casts by Embree, see Rays): the same w without the winding number's
   near field. Holes and open sheets are first closed by caps, cones over the mesh's boundary loops, whose
   own (small) winding number is added back.

When the test points of tier 1 would be many next to the queries (very fine meshes), tier 1 would cost
more than it saves; then w is evaluated at every query directly (face_labels=False does so always). How many
is too many depends on how thin the faces are, which sets w's cost per point (labels_pay_off).

The queries are taken in Z-order (query_order): every answer is the point's own, and libigl's tree walks
run 1.5-2x faster on neighbours in a row than on DeepSDF's samples in their random order.

Both libigl structures cost a build per call (the distance's AABB tree, the winding number's hierarchy:
0.17 s each on a 280k-face mesh), so the AABB tree is built once per mesh and kept, and the queries that
need w are gathered over all chunks and evaluated together, WINDING_BATCH points at a time.
"""
import weakref

import igl
import numpy as np

from .mesh_topology import (_components, _coplanar_across_parts, _edges, _face_pairs, _nearest_of_other_parts,
                            _parts, _planes, drop_twin_faces, edge_net, merged_vertex_ids, orient_components,
                            plane_groups, same_vertex_faces, turned_edge_of)
from .forked_call import BackgroundCall
from .forked_distance import BackgroundDistance, CoreSplit, aabb_query, can_fork, igl_threads
from .long_faces import cut_for_distance, longest_edges, split_long_faces
from .query_order import spatial_order
from .ray_casts import LayerScenes, Rays, ScaledTree, _crossings, _hits_along
from .triangle_points import _corner_angles, _strip_points, barycentric_in_faces

_BARY_EPS = 1e-9
# Largest distance between the test points of a face, as a share of the bounding-box diagonal x 2.
LABEL_SPACING = 0.03
# Points per winding-number call: each call rebuilds libigl's hierarchy, so calls are few and large
# (24 bytes per point held until the call).
WINDING_BATCH = 2_000_000
# With the distance computed by forked children, tier 3 runs every this many queries, beside the children,
# instead of once at the end with their cores idle (the hierarchies are kept, so a call costs no rebuild).
PREFETCH_TIER3_BATCH = 65_536
# Test points lie this far off their face (x the bounding-box diagonal).
OFFSET = 1e-6
# Faces narrower than this many offsets (height over their longest edge) are slivers: a point just off such
# a face may lie beyond a neighbouring face, so their test points are neither anchors nor labels.
SLIVER = 10
# Queries given to SignedDistance(queries=...) get their distance from forked children while the sign is set
# up (a worker with more than one core: libigl's calls hold the GIL, so a thread could not overlap them), up
# to this many (40 bytes each in shared memory); more are left to the chunked queries.
PREFETCH_MAX = 4_000_000
# Faces within this of another part's plane (unit normal, offset / bounding-box diagonal) are left out of the
# regions of _region_side_w: a part lying that close may hold test points just off them.
REGION_PLANE_TOL = 1e-4
# Two faces on an edge are in one flat patch when their unit normals agree to this (each coordinate). Files store
# coordinates to 6 or 7 digits, which tilts the faces of one flat side against each other (the embedded
# table_001: by up to 1e-5; the sides of its top, whose planes were compared rounded to 1e-6, fell into 1,000
# patches, and 8,572 of its faces lay "in the plane of another patch", their neighbour's). Not more: at 1e-3 the
# faces of Table13's part tilted by 0.3 degrees, which meet within 1e-4-1e-3 of each other's planes, joined one
# region across an edge lying in another part's face, which nothing else finds (579 of 500,000 samples wrong).
FLAT_TILT = 1e-4
# ... or when each one's corner off the edge lies within this (x the bounding-box diagonal) of the other's plane and
# their normals agree to FLAT_DIST_TILT: far under the test points' offset, so flat for every use of the patches.
# Slivers need it: the embedded chair_002's leg, a cylinder cut by midpoint subdivision into 281k faces 1e-5 wide,
# whose coordinates (8 decimals) tilt them by up to 1e-3, fell into 43,258 patches, and 250,022 of its faces lay
# "in the plane of another patch" (its set-up: 21 s, 2.8x the bare distance query; 842 patches with this).
FLAT_DIST = 1e-7
FLAT_DIST_TILT = 1e-2
# Faces longer than this (x the bounding-box diagonal) are cut for the fast winding number (split_long_faces).
WINDING_SPLIT = 0.1
# The first this many points (of the set-up, in all) whose w is wanted get the exact winding number while the fast
# one's hierarchy is not built (_w): the sum costs about 0.1 us a face and point, the build 1.1-1.2 us a face plus
# 10-190 us a point on thin faces. Where counts give the regions' anchors (_outside_k), a few are often all.
W_EXACT_FIRST = 8
# Test points at which ambiguous_area_fraction estimates the share of the surface with no clear inside when
# the faces are not labelled (w at every query); with labels every test point's w is known and all are used.
AMBIGUITY_SAMPLE = 8192
# Where the fast winding number costs more than this per point (microseconds, as winding_cost estimates it
# from the faces' thinness), most of a region's probes take k by counting crossings from a few whose w is
# evaluated (_region_side_w, count_probes): a count cost 1.5-3.5 us a test point (both sides) on the embedded
# lamp_003 and table_001.
COUNT_PROBES_ABOVE = 10.0
# The counts of _carried_k start from a point of a trusted region at most 1 + this times as far as the nearest
# (the nearest where that count is refused).
CARRY_EPS = 1.0
# Where w is dear (count_probes), the anchors of _region_side_w take k by counting crossings along a segment out of
# the box of the mesh and its caps, grown by this x the diagonal, where k is 0 (_outside_k); the segment leans off
# the axis by these shares of its length along the other two axes, so that it runs along no axis plane of a part.
OUTSIDE_MARGIN = 0.01
OUTSIDE_TILT = (0.0131, 0.0277)
# ... and a side whose segment would leave a test point within this (cosine) of its face's plane, leaning into it,
# comes last (_outside_k, away)
OUTSIDE_SLANT = 0.2
# Two flat patches may lie on each other (LayerScenes, _layer_scenes) where their unit normals and plane offsets (x
# the bounding-box diagonal) come within this of each other's, either way up, and their boxes within this x the
# diagonal. Generous: a pair taken for one only costs a scene more.
LAYER_PLANE_TOL = 1e-3
# At most this many scenes (colours) of layered faces, and patches to colour; the faces beyond keep libigl's
# recount with every hit.
MAX_LAYER_SCENES = 8
MAX_LAYER_PATCHES = 2000
# Segments that walks could recount (none with two hits too close) before LayerScenes are built for a set of
# layered faces (fewer: libigl's every-hit casts, 10-13 us each, cost less than the scenes' build, 0.02-0.03 s on
# the embedded table_001 and Table7).
LAYER_SCENES_FROM = 2048


def _ambiguous(w, low=0.3, high=0.7):
    """w neither near 0 nor near +-1: |w| between low and high (an open surface, or near a hole)."""
    return (np.abs(w) > low) & (np.abs(w) < high)


def winding_number(V, F, Q):
    """Fast generalised winding number of triangle soup (V, F) at points Q (n x 3)."""
    if len(Q) == 0:
        return np.zeros(0)
    return igl.fast_winding_number(V, F, np.ascontiguousarray(Q, dtype=np.float64))


class WindingNumber:
    """The fast winding number of one mesh (V, F) at any number of point sets, its hierarchy built once, on
    the first call: libigl's FastWindingNumberBVH, the same values bit for bit as winding_number (which
    builds the hierarchy again each call: 0.09 s on Table7's 101k faces). Without it (older libigl),
    winding_number. exact_first: the first this many points asked for, while the hierarchy is not built, get
    the exact winding number instead (exact_winding_number), cheaper for a few: the build cost 1.1-1.2 us a
    face (0.11 s on the embedded table_001, for the 2 points its tier 3 could not count), the exact sum about 0.1
    us a face and point."""

    def __init__(self, V, F, exact_first=0):
        self.V = np.ascontiguousarray(V, dtype=np.float64)
        self.F = np.ascontiguousarray(F, dtype=np.int64)
        self._bvh = None
        self._exact_left = exact_first
        self._corners = None  # triangle_corners, for the exact sums

    def __call__(self, Q):
        if self._bvh is None and 0 < len(Q) <= self._exact_left:
            self._exact_left -= len(Q)
            return self.exact(Q)
        if len(Q) == 0 or not hasattr(igl, "FastWindingNumberBVH"):
            return winding_number(self.V, self.F, Q)
        if self._bvh is None:
            self._bvh = igl.FastWindingNumberBVH()
            self._bvh.init(self.V, self.F)
        return self._bvh.winding_number(np.ascontiguousarray(Q, dtype=np.float64))

    def exact(self, Q):
        """The exact winding number at Q (exact_winding_number, the corners laid out once)."""
        if self._corners is None:
            self._corners = triangle_corners(self.V, self.F)
        return exact_winding_number(self.V, self.F, Q, corners=self._corners)


def triangle_corners(V, F):
    """(3 corners, 3 coordinates, nf): the faces' corners laid out for exact_winding_number's sums (rows of
    contiguous coordinates: 2.3x faster than (nf, 3, 3) with its gather)."""
    return np.ascontiguousarray(np.asarray(V, dtype=np.float64)[F].transpose(1, 2, 0))


def exact_winding_number(V, F, Q, few=24, corners=None):
    """Exact generalised winding number of (V, F) at points Q (n x 3). libigl's costs about 3.4 us per face
    per call before any point (then 0.004 us per face and point); up to `few` points the triangles' solid
    angles are summed here instead (Van Oosterom and Strackee, about 0.1 us per face and point). corners:
    triangle_corners(V, F), where kept."""
    Q = np.ascontiguousarray(Q, dtype=np.float64)
    if len(Q) > few:
        return igl.winding_number(V, F, Q)
    corners = triangle_corners(V, F) if corners is None else corners
    out = np.zeros(len(Q))
    for i, q in enumerate(Q):
        a, b, c = d = corners - q[None, :, None]  # (3, nf) each: the corners from q
        la, lb, lc = np.sqrt(np.einsum("cdn,cdn->cn", d, d))  # (nf,) each
        dot = lambda x, y: np.einsum("dn,dn->n", x, y)
        num = dot(a, np.cross(b, c, axis=0))
        den = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
        out[i] = np.arctan2(num, den).sum() / (2 * np.pi)  # solid angle 2 atan2(...), over 4 pi
    return out


def winding_cost(thinness):
    """Microseconds per point of the fast winding number, from how thin the faces are: thinness = sum of the
    faces' longest edge squared over the sum of their areas (2.3 for equilateral triangles, 2.5-6.5 on organic
    meshes, 13-80 on CAD models; unchanged by subdivision); w took about 2 + 0.6 x thinness microseconds per
    point (2.6-4.5 at 2.5-6.5, 9-53 at 13-80)."""
    return 2.0 + 0.6 * thinness


def labels_pay_off(n_test, n_queries, thinness):
    """Whether tiers 1-2 (w at n_test test points, then labels) cost less than w at every one of n_queries.

    The fast winding number costs more per point the thinner the faces are (winding_cost). The labels cost
    about 17 + 1.1 x that per test point (the set-up's casts, the probes' w both sides, tier 3): measured on a
    plane, ChairArms1, ChairArms2 and Table6 subdivided to 163k-343k faces (docs/benchmarks.md). At least a
    quarter of the queries (the rule of the rounds before, kept where it chose the labels)."""
    c_w = winding_cost(thinness)  # microseconds per point for w
    return n_test < n_queries * max(0.25, c_w / (17.0 + 1.1 * c_w))


def unsigned_distance(V, F, Q):
    """Exact distance from Q to the mesh, plus the closest face index and closest point (the bare query
    that the benchmarks and tests hold the signed distance against)."""
    sq, face, closest = igl.point_mesh_squared_distance(np.ascontiguousarray(Q, dtype=np.float64), V, F)
    return np.sqrt(sq), face.astype(np.int64), closest


class SignedDistance:
    """Signed distance queries against one mesh; build once, query in chunks (bounded memory).

    V: (nv, 3) float, F: (nf, 3) int. Vertices need not be merged: topology is built on a copy with
    coincident vertices merged, as CAD files often repeat them along seams.
    queries: the points that will be asked for, where known at construction (as the sampler knows them).
    Where libigl has more than one thread (IGL_NUM_THREADS, else every core) their exact distance is then
    computed by as many forked children (forked_distance) while the sign is set up, on the cores that the
    set-up's numpy leaves idle (where long faces were cut they query the ray casts' tree, built once before
    the fork, and one more child finds the crossed faces beside the orientation repair: forked_call); the
    results are the same bit for bit. Until this process first waits for a child, it keeps the core it runs
    on and the children the others (forked_distance.CoreSplit); every core is its own again by the end of
    __call__ or close(). close() stops the children when the queries will not come.
    """

    def __init__(self, V, F, queries_hint=500_000, orient_parts=True, face_labels=True, queries=None):
        self.V = np.ascontiguousarray(V, dtype=np.float64)
        self.F = np.ascontiguousarray(F, dtype=np.int64)
        self.vid = merged_vertex_ids(self.V)  # coincident vertices merged, for topology only
        if orient_parts:
            self.F = drop_twin_faces(self.V, self.F, self.vid)
        # The distance is taken to these faces: the orientation repair below turns faces over but moves
        # none, and distances do not depend on a face's winding. libigl's tree takes them with their long
        # faces cut (long_faces: the same surface, the same distance to the last bit or two, 2x faster on
        # Table7), and the face it finds is mapped back (_dist_origin).
        self._F_dist = self.F
        self.span = np.linalg.norm(self.V.max(0) - self.V.min(0))
        tri = self.V[self.F]  # (nf, 3 corners, 3); the same edges, up to sign, once faces are turned over
        self.longest = longest_edges(tri)
        self._V_cut, self._F_cut, self._dist_origin = cut_for_distance(self.V, self._F_dist, self.longest, self.span)
        self._distance = None  # aabb_query on the cut faces (its tree built once), when first needed
        # queries known now, on a worker with more than one core: their distance is computed by forked
        # children while this process sets up the sign (see PREFETCH_MAX and forked_distance)
        self._prefetch = None
        self._cut_tree = None  # libigl's tree on the cut faces, where built before the children (below)
        self._crossed_bg = None  # the child computing crossed_faces, where started here (below)
        self._cores = None  # this thread on its core and the children on the others, until they are waited for
        # the mesh's edges (merged vertex ids), shared by the crossed faces, the orientation repair and the labels:
        # edges (ne, 2), edge_of (nf, 3) the edge id of edge k of face f, faces per edge (ne,); turning faces over
        # leaves them (turned_edge_of)
        edges0 = _edges(self.vid[self.F]) if orient_parts or face_labels else None
        if queries is not None and 0 < len(queries) <= PREFETCH_MAX and igl_threads() > 1 and can_fork():
            self._prefetch_Q = np.ascontiguousarray(queries, dtype=np.float64)
            self._cores = CoreSplit()
            weakref.finalize(self, self._cores.end)  # however this object ends, the cores come back
            compute = aabb_query
            if len(self._F_cut) > len(self._F_dist):
                # Where faces were cut, the ray casts walk the same tree (Rays, cut=...): built once, here, it
                # serves the children too (copy-on-write: one build instead of one per child, and one copy in
                # the caches that the children and this process read)
                self._cut_tree = ScaledTree(self._V_cut, self._F_cut, self.span)
                compute = lambda V, F: self._cut_tree.squared_distance
                if face_labels:
                    # The faces that edges cross (libigl's float64 walk on that tree, which the orientation
                    # repair leaves as it is: the cut faces are the file's) are computed by a forked child from
                    # here on, beside the repair and the casts' set-up, at this process's priority: they are
                    # the first thing the labels need (0.5 s of a 2.7 s set-up on the embedded table_001)
                    Fm = self.vid[self._F_dist]
                    edges, edge_of, _ = edges0
                    rays = Rays(self.V, self._F_dist, use_embree=False, tree=self._cut_tree,
                                cut=(self._V_cut, self._F_cut, self._dist_origin))
                    at = self._merged_positions()
                    self._crossed_bg = BackgroundCall(lambda: crossed_faces(rays, at, edges, edge_of, Fm),
                                                      cores=self._cores)
            self._prefetch_order = spatial_order(self._prefetch_Q)  # the children take them in __call__'s order
            self._prefetch = BackgroundDistance(self._V_cut, self._F_cut, self._prefetch_Q[self._prefetch_order],
                                                compute=compute, cores=self._cores)
        # faces sharing an edge (_face_pairs, the same once faces are turned over); after the forks, which wait for none
        pairs0 = None if edges0 is None else _face_pairs(edges0[1])
        if orient_parts:
            F = self.F
            self.F = orient_components(self.V, F, self.vid, edges0, pairs0)
            edges0 = edges0[0], turned_edge_of(edges0[1], (self.F != F).any(1)), edges0[2]
        self.Fm = self.vid[self.F]  # (nf, 3) merged vertex ids
        tri = self.V[self.F]  # (nf, 3 corners, 3)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        area2 = np.linalg.norm(cross, axis=1)
        self.normals = cross / np.maximum(area2, 1e-300)[:, None]
        self.area = 0.5 * area2
        self.sliver = 2 * self.area < SLIVER * OFFSET * self.span * self.longest  # (nf,) see SLIVER
        self.spacing = LABEL_SPACING * self.span / 2  # largest gap between the test points of a face
        # test points: the centroid of a face shorter than the spacing, else about area / spacing^2 + a row per spacing
        large = self.longest > self.spacing
        n_test = (~large).sum() + (self.area[large] / self.spacing**2 + 2 * self.longest[large] / self.spacing).sum()
        # Tiers 1-2 pay off when the test points are few next to the queries (see labels_pay_off); otherwise w
        # is evaluated at every query.
        self.thinness = float((self.longest**2).sum() / max(self.area.sum(), 1e-300))
        self.use_labels = face_labels and labels_pay_off(n_test, queries_hint, self.thinness)
        if not self.use_labels and self._crossed_bg is not None:  # w at every query: no labels, no crossed faces
            self._crossed_bg.cancel()
            self._crossed_bg = None
        self._w_mesh = None  # the faces cut for the fast winding number (split_long_faces), when first needed
        self._w_exact_left = W_EXACT_FIRST  # test points whose w is summed exactly while that is not built (_w)
        # w at the queries: on the faces as they are (see _w); exactly where tier 3 leaves only a few to it
        self._w_at_queries = WindingNumber(self.V, self.F, exact_first=4)
        self.side_w = None
        self.rays = None  # ray casts (tiers 1 and 3), built with the labels: w at every query needs none
        self._layer_cache = []  # (layered mask, its LayerScenes or None) for the crossing counts (_layer_scenes)
        if self.use_labels:
            cut = len(self._F_cut) > len(self.F)  # libigl's casts on the cut faces too, where any were cut
            self.rays = Rays(self.V, self.F, cut=(self._V_cut, self._F_cut, self._dist_origin) if cut else None,
                             tree=self._cut_tree)
            # the mesh's edges (edges0, as the faces are turned now), shared by the crossing-edge test, the
            # closed-surface test and the pseudonormals
            self.edges, self.edge_of, self.edge_count = edges0
            self._pairs = pairs0  # faces sharing an edge: (a, b, edge), see _face_pairs
            self._label_faces(tri)
            self._build_pseudonormals(tri)
            self._bary = barycentric_in_faces(tri)  # closest points' barycentric coordinates (tier 2)

    def _w(self, Q):
        """The fast winding number of the mesh at test points Q just off its faces, its long faces cut first
        (split_long_faces). Not at the queries: further off the surface the cut faces' approximation is off
        by up to 0.006 instead of 0.002, and w at every query got 818 signs wrong on the 42 CAD meshes instead
        of 129, where w is near 0.5."""
        if len(Q) == 0:  # (the cut faces are not needed: a count gave every w)
            return np.zeros(0)
        if self._w_mesh is None and len(Q) <= self._w_exact_left:  # a few points: exact, no hierarchy built
            self._w_exact_left -= len(Q)
            return self._w_at_queries.exact(Q)
        if self._w_mesh is None:
            self._w_mesh = WindingNumber(*split_long_faces(self.V, self.F, WINDING_SPLIT * self.span)[:2])
        return self._w_mesh(Q)

    # ---- tier 1: which side of each face is inside ----
    def _test_points(self, tri, faces):
        """Test points of the faces (the centroid of a small face, rows of points on a large one), the face of
        each: (m, 3), (m,), and a function (face, bary) -> index of the test point nearby (faces (n,) among
        `faces`, bary (n, 3) barycentric coordinates in them)."""
        is_small = self.longest[faces] <= self.spacing
        small, large = faces[is_small], faces[~is_small]
        p, o, cell = _strip_points(tri[large], self.spacing)
        rank = np.zeros(len(self.F), dtype=np.int64)  # each face's position among the small or the large ones
        rank[small], rank[large] = np.arange(len(small)), np.arange(len(large))
        small_face = np.zeros(len(self.F), dtype=bool)
        small_face[small] = True

        def near(face, bary):
            out = rank[face].copy()  # a small face's only test point
            lg = ~small_face[face]
            out[lg] = len(small) + cell(rank[face[lg]], bary[lg])
            return out

        return np.concatenate([tri[small].mean(1), p]), np.concatenate([small, large[o]]), near

    def _off(self, pts, owner):
        """Points just off both sides of the test points: (2m, 3), the + side (along the normal) first."""
        off = OFFSET * self.span * self.normals[owner]
        return np.concatenate([pts + off, pts - off])

    def _side_w(self, tri, faces):
        """w just off both sides of the faces' test points: (w_plus, w_minus, owner face, points)."""
        pts, owner, _ = self._test_points(tri, faces)
        # Both sides are evaluated: across a face alone w jumps by exactly 1, but not where another face
        # lies on it (double-sided or coincident parts), and those are the faces that must not get a label.
        at = self._off(pts, owner)
        w = self._w(at)
        return w[: len(pts)], w[len(pts) :], owner, at

    def _beyond_other_faces(self, pts, owner, at):
        """(m,) bool: test points (pts (m, 3) on the faces `owner`) with an offset point (at (2m, 3), _off) that
        another face separates from its own face: where a part folds back on itself, or two parts meet, closer
        than the offset (Table10: points 1e-6 x the diagonal inside a face that lay 1.3-1.9e-6 beyond a
        neighbour folded onto it, w = 0 where their region said 1). Cast from each offset point back to its
        test point: the first face met must be the point's own, or one in its plane (to 1e-9: a face lying on it,
        which leaves the point as far off both as off its own; such faces are in no region, and w at their test
        points comes from counts as elsewhere: an embedded round table's stem stands on 3,508 faces of its top,
        whose 7,560 offset points cost 0.95 s of w).
        Returns that mask, (m,) the jump of k across each test point's face, from the + side to the - side:
        1, or 1 +- 1 where a face in its plane was met (the same way up, or the other way), and (m,) that face
        (-1: none)."""
        m = len(owner)
        d = np.tile(pts, (2, 1)) - at  # (2m, 3): from each offset point to its test point
        reach = 1.0 + (2 * self.rays.tol / (OFFSET * self.span) if self.rays.tol > 0 else 1e-6)  # past the face a little
        face, _ = self.rays.first_hits(at, d, reach)
        own = np.tile(owner, 2)
        other = (face >= 0) & (face != own)
        i = np.flatnonzero(other)
        lying = i[np.abs(self._plane[face[i]] - self._plane[own[i]]).max(1) < 1e-9]  # met a face in its plane
        other[lying] = False
        jump = np.ones(2 * m)
        jump[lying] += np.sign(np.einsum("nd,nd->n", self.normals[face[lying]], self.normals[own[lying]]))
        on = np.full(2 * m, -1)
        on[lying] = face[lying]
        # a point whose two sides met faces lying on it the other way round from each other: not known
        odd = (jump[:m] != 1) & (jump[m:] != 1) & (jump[:m] != jump[m:])
        on = np.where(jump[:m] != 1, on[:m], on[m:])
        jump = np.where(jump[:m] != 1, jump[:m], jump[m:])
        # Where a face lies on the point's own, both casts may meet the own face first (a tie that float32
        # rounding decides: 828 test points of the embedded table_001, whose counts then read a jump of 0 or 2
        # against the 1 expected, and were evaluated): a face of another flat patch in the plane of a face that
        # may have one is looked for at its test points by their distance to it
        flat = np.flatnonzero((jump == 1) & (self._lying | self._coplanar)[owner])
        jump[flat], on[flat] = self._jump_at(pts[flat], owner[flat])
        return other[:m] | other[m:] | odd, jump, on

    def _jump_at(self, pts, owner):
        """(n,) the jump of k across the faces `owner` at points pts on them: 1 + or - 1 where a face of another
        flat patch lies there (the same plane to 1e-9, within 1e-9 x the diagonal; +: the same way up), else 1;
        and (n,) that face (-1: none)."""
        jump, on = np.ones(len(pts)), np.full(len(pts), -1)
        # faces in the plane of another part or patch: the only ones that can lie there
        cop = np.flatnonzero(self._lying | self._coplanar)
        local = np.full(len(self.F), -1)
        local[cop] = np.arange(len(cop))
        for group in plane_groups(self._plane[cop], 1e-6):  # planes grouped as _coplanar_across_parts groups them
            dist, face = _nearest_of_other_parts(pts, local[owner], self.V[self.F[cop]], group, self._patch[cop])
            g = cop[np.maximum(face, 0)]
            lies = (face >= 0) & (dist <= 1e-9 * self.span) & (jump == 1)
            lies &= np.abs(self._plane[g] - self._plane[owner]).max(1) < 1e-9
            jump[lies] += np.sign(np.einsum("nd,nd->n", self.normals[g[lies]], self.normals[owner[lies]]))
            on[lies] = g[lies]
        return jump, on

    def _region_side_w(self, at, owner, region, w_caps=0.0, layered=None, probes=3, every=8, beyond=None,
                       count_probes=False, anchor_every=256, jump=1.0):
        """w at the points `at` (both sides of each test point, as _off gives them), evaluated at a few test
        points per region and carried over to the rest of the region.

        region (nf,): faces joined by edges with exactly two faces, none crossed by another part or by the
        caps, none in the plane of another part (-1: no region). On a closed mesh w is a whole number off the
        surface that changes only across a face, so it is the same just off every face of a region on the same
        side: no surface crosses or touches the thin layer along the region. On an open mesh the same holds
        for k = w - w_caps (w_caps (2m,): the caps' winding number at `at`, see _cone_caps), since the mesh
        minus its caps is closed. Every `every`-th test point of a region (at least `probes` of them) is
        evaluated; where they agree (k whole numbers on both sides, jumping by 1 across their face) the region
        takes their k, else all its test points are evaluated. The test points of faces in no region (crossed
        ones, those in the plane of another part) take k from the nearest point of a trusted region, carried
        along the segment between them by counting the faces it crosses (_carried_k; `layered` (nf,): faces
        that may have another lying on them, counted with every hit); where the count cannot be trusted, or
        does not jump by 1 across the face, or no region is trusted, they are evaluated. beyond (m,): test points
        that another face separates from their own (_beyond_other_faces), evaluated whatever their region.
        count_probes: every `anchor_every`-th test point of a region only (at least `probes`) is an anchor, whose
        k is counted from outside the box (_outside_k), and the other probes take k by counting the faces crossed
        from the nearest anchor that reads clean, where w costs more than such a count (thin faces,
        COUNT_PROBES_ABOVE); a probe whose counts are refused or not clean, from an anchor and from outside, is
        evaluated, and so is an anchor whose count is. jump (m,): the jump of k across each test point's face expected of the counts
        to the faces in no region (1, or 0 or 2 where another face lies on it, _beyond_other_faces).
        Returns w (2m,) and a mask (2m,) of the points whose w the winding number gave."""
        m = len(owner)
        r = region[owner]  # (m,) region of each test point
        w_caps = np.broadcast_to(w_caps, (2 * m,))  # 0 on a closed mesh
        # probes: every `every`-th test point of a region in file order, and at least `probes` of them
        order = np.argsort(r, kind="stable")
        rank = np.empty(m, dtype=np.int64)  # position of each test point among its region's
        rank[order] = np.arange(m) - np.searchsorted(r[order], r[order])
        n_r = np.bincount(r[r >= 0], minlength=max(int(region.max()) + 1, 1))  # (regions,) test points in each
        step = np.clip(n_r // probes, 1, every)  # every `every`-th point, and at least `probes` of them
        probe = (r >= 0) & (rank % step[np.maximum(r, 0)] == 0)
        own = r < 0  # faces in no region, crossed ones included (their test points are anchors for tier 3)
        w = np.full(2 * m, np.nan)  # filled below: evaluated, or carried over a region

        def evaluate(mask):
            idx = np.flatnonzero(np.tile(mask, 2))
            w[idx] = self._w(at[idx])
            return np.tile(mask, 2)

        far = np.zeros(m, dtype=bool) if beyond is None else beyond
        whole = lambda x: np.abs(x - np.round(x)) < 0.1

        def clean(kp, km):  # k on both sides whole numbers, 1 apart
            return whole(kp) & whole(km) & (np.abs(kp - km + 1) < 0.1)

        def carried(targets, sources):
            """k on both sides of the test points `targets`, carried from both sides of `sources` (indices
            (n,) into the m test points): (k+ (n,), k- (n,), a mask (n,) of those where either count is
            refused)."""
            both, src = np.concatenate([targets, m + targets]), np.concatenate([sources, m + sources])
            kc, unsure = self._carried_k(at[both], at[src], np.round(k[src]), layered, paired=True)
            n = len(targets)
            return kc[:n], kc[n:], unsure[:n] | unsure[n:]

        by_count = np.zeros(m, dtype=bool)  # probes whose k came from a count of crossings, not from w

        def from_outside(targets, expect=1.0):
            """k on both sides of the test points `targets` (indices (n,)) counted from outside the box (_outside_k),
            kept where both counts are trusted and k jumps by `expect` across the face: (n,) mask of those."""
            both = np.concatenate([targets, m + targets])
            side = np.concatenate([self.normals[owner[targets]], -self.normals[owner[targets]]])  # (_off: + side first)
            kc, unsure = self._outside_k(at[both], layered, away=side)
            n = len(targets)
            ok = ~(unsure[:n] | unsure[n:]) & (np.abs(kc[n:] - kc[:n] - np.broadcast_to(expect, (n,))) < 0.5)
            i = targets[ok]
            w[i], w[m + i] = kc[:n][ok] + w_caps[i], kc[n:][ok] + w_caps[m + i]
            by_count[i] = True
            return ok

        anchor = probe
        evaluated = np.zeros(2 * m, dtype=bool)
        if count_probes:  # k at a few anchors per region, counts from them to the other probes
            anchor = probe & ((rank % np.clip(n_r // probes, 1, anchor_every)[np.maximum(r, 0)] == 0) | far)
            # the anchors' k counted from outside the box, where k is 0: w (dear here, and its hierarchy a build of
            # its own: 0.29 s for the 798 anchors of the embedded table_001) only where a count is refused, and
            # beyond another face (far), where no count starts
            i = np.flatnonzero(anchor & ~far)
            ok = from_outside(i)
            anchor_w = anchor & far
            anchor_w[i[~ok]] = True
            evaluated |= evaluate(anchor_w)
        else:
            evaluated |= evaluate(anchor)
        k = w - w_caps
        counted = np.flatnonzero(probe & ~anchor)
        if len(counted):
            src = np.flatnonzero(anchor & ~far & ~self.sliver[owner] & clean(k[:m], k[m:]))
            ok = np.zeros(len(counted), dtype=bool)
            if len(src):
                kp, km, unsure = carried(counted, src)
                ok = ~unsure & clean(kp, km)
                i = counted[ok]
                w[i], w[m + i] = kp[ok] + w_caps[i], km[ok] + w_caps[m + i]
                by_count[i] = True
            i = counted[~ok]
            left = np.zeros(m, dtype=bool)
            left[i[~from_outside(i)]] = True  # a count from outside first, else w
            evaluated |= evaluate(left)
            k = w - w_caps
        # The fast winding number can be off by 0.1 to 1 near the thin, long faces of CAD models: probes whose
        # k is not a whole number, or does not jump by 1 across their face, are measured again before they
        # make their region untrusted: first by counting crossings from the nearest clean probe (as for the
        # faces in no region, below), then, where that count cannot be trusted, exactly, where that costs
        # less than the region's other test points would (exact_winding_number: 0.14 us per face and point
        # for a few points, against 3-30 us per point for the fast one on CAD meshes)
        # Probes beyond another face (far) keep their place among the probes but have no vote on their region's
        # trust, as the region's other test points beyond another face have none: the face met there lies within
        # the offset of the region without crossing it or lying in its plane, which leaves the layer along the
        # region whole, so k may differ beyond it only (ChairArms2 subdivided twice: 2 of a region's 1,646 probes
        # read another k, and its 13,161 test points were all evaluated, a third of its set-up)
        vote = probe & ~far
        misread = vote.copy()  # (m,) probes whose k is off (only probes are evaluated yet)
        misread[vote] = ~clean(k[:m][vote], k[m:][vote])
        fine = np.flatnonzero(vote & ~misread & ~self.sliver[owner])
        # only probes the fast winding number read off a whole number: a probe whose sides read whole numbers
        # that do not jump by 1 has another face lying on its face, which a count of crossings may miss
        off_whole = np.flatnonzero(misread & ~(whole(k[:m]) & whole(k[m:])))
        if len(off_whole) and len(fine):
            kp, km, unsure = carried(off_whole, fine)
            ok = ~unsure & clean(kp, km)
            i = off_whole[ok]
            w[i], w[m + i] = kp[ok] + w_caps[i], km[ok] + w_caps[m + i]
            misread[i] = False
            by_count[i] = True
            k = w - w_caps
        n_misread = np.bincount(r[misread], minlength=len(n_r))
        worth = n_misread * len(self.F) * 0.14 <= 3.0 * n_r  # (regions,)
        off = np.flatnonzero(misread & worth[np.maximum(r, 0)])
        if len(off):
            idx = np.concatenate([off, m + off])
            w[idx] = exact_winding_number(self.V, self.F, at[idx])
            k = w - w_caps

        def trust():
            """(regions,) trusted, and k+ there: every probe that votes reads the same whole numbers on both
            sides, 1 apart."""
            wp, wm = k[:m][vote], k[m:][vote]  # k at the probes that vote
            rp = r[vote]
            lo = np.full(len(n_r), np.inf)
            hi = np.full(len(n_r), -np.inf)
            np.minimum.at(lo, rp, np.round(wp))
            np.maximum.at(hi, rp, np.round(wp))
            bad = np.bincount(rp, weights=~clean(wp, wm), minlength=len(n_r)) > 0
            return ~bad & (lo == hi), lo

        trusted, lo = trust()
        # A count can be off where its segment grazes a surface that is nearly flat but not quite (one flat side's
        # faces tilted by 1e-5 against each other, the segment 1e-6 off them): both sides of a probe then read
        # one too many, cleanly (ChairArms1: 8 probes of a region, which kept those counts when the region was
        # no longer trusted). In a region that is not trusted, the probes whose k was counted are evaluated and
        # the probes vote again.
        recheck = by_count & (r >= 0) & ~trusted[np.maximum(r, 0)]
        if recheck.any():
            evaluated |= evaluate(recheck)
            k = w - w_caps
            trusted, lo = trust()
        in_trusted = (r >= 0) & trusted[np.maximum(r, 0)]  # (m,)
        carry = in_trusted & ~probe
        k[:m][carry] = lo[r[carry]]
        k[m:][carry] = lo[r[carry]] + 1.0
        # regions whose probes disagree: every test point evaluated (another face may lie on the region, which
        # a count of crossings would miss)
        evaluated |= np.tile((r >= 0) & ~in_trusted & ~probe, 2)
        # faces in no region: k carried from the nearest point of a trusted region by counting crossings; where
        # the count cannot be trusted, or does not jump by 1 across the face (another face lying there, or a
        # crossing missed on one side), w is evaluated
        # Test points that another face separates from their own (`beyond`: a fold thinner than the offset) are
        # evaluated, and are no source for the counts: their region's k may not hold there, and a count to them
        # passes within the casts' tolerance of two faces (a test knife: 30 of 832 wrong when counted). They
        # stay in their region's probes: taking them out moves the probes, and on Table7 (open) a region whose
        # probes had found a misread then read clean (324 of 500,000 samples wrong).
        rest = np.flatnonzero(own & ~far)
        src = np.flatnonzero(in_trusted & ~self.sliver[owner] & ~far)
        if len(rest) and len(src):
            k[rest], k[m + rest], unsure = carried(rest, src)
            expect = np.broadcast_to(jump, (m,))[rest]
            unsure |= np.abs(k[m + rest] - k[rest] - expect) > 0.5
            if count_probes and unsure.any():  # counted from outside first (see the anchors), else w
                ok = from_outside(rest[unsure], expect[unsure])
                i = rest[unsure][ok]
                k[i], k[m + i] = w[i] - w_caps[i], w[m + i] - w_caps[m + i]
                unsure[np.flatnonzero(unsure)[ok]] = False
            evaluated[rest[unsure]] = evaluated[m + rest[unsure]] = True
        else:
            evaluated |= np.tile(own, 2)
        evaluated |= np.tile(far, 2)
        todo = evaluated & np.isnan(w)
        w[todo] = self._w(at[todo])
        return np.where(evaluated, w, k + w_caps), evaluated

    def _carried_k(self, Q, P, kP, layered=None, max_crossings=64, paired=False):
        """k = w - w_caps (w on a closed mesh) at points Q (n, 3), carried from a near one (CARRY_EPS) of the
        points P (p, 3) where it is known (kP (p,), whole numbers) along the segment between them: k(q) = k(p) +
        the signed count of the mesh's faces it crosses - that of the caps' faces (continued_winding_number).
        paired: P's second half are the first half's twins, the other sides of the same test points (_off), which
        lie 2 offsets away: the search runs over the first half, and a point takes the nearer of the pair found.
        Returns k (n,) and a mask (n,) of the points where the count cannot be trusted (_crossings)."""
        from scipy.spatial import cKDTree

        half = len(P) // 2 if paired else len(P)
        # median splits, boxes not shrunk to the points: sliding-midpoint splits were up to 1.4x faster on the CAD
        # meshes (0.02-0.07 s) but 5-110x slower where the sources lie on a few thin parts and many targets far
        # from them (an embedded lamp: 21.5 s against 0.19 s), and shrunk boxes slower still
        tree = cKDTree(P[:half], balanced_tree=True, compact_nodes=False)

        def twin(i, q):  # the nearer of the pair of P[i] to each q
            if not paired:
                return i
            j = i + half
            return np.where(((P[j] - q) ** 2).sum(1) < ((P[i] - q) ** 2).sum(1), j, i)

        # a near source first (CARRY_EPS: targets inside a ring of equidistant sources made the exact search check
        # them all, 3.1 s against 0.9 s on an embedded lamp), the nearest where that count is refused
        near = twin(tree.query(Q, eps=CARRY_EPS)[1], Q)
        k, unsure = self._crossing_count(Q, P[near] - Q, layered, max_crossings)
        again = np.flatnonzero(unsure)
        if len(again):
            nearest = twin(tree.query(Q[again])[1], Q[again])
            k[again], unsure[again] = self._crossing_count(Q[again], P[nearest] - Q[again], layered, max_crossings)
            near[again] = nearest
        return kP[near] + k, unsure

    def _outside_k(self, Q, layered, away=None, tries=3, max_crossings=64):
        """k = w - w_caps (w on a closed mesh) at points Q (n, 3) counted along a segment to a point outside the box
        of the mesh and its caps, where k is 0 (a whole number off the surface that changes only across faces, 0
        far away): k(q) = the signed count of the crossings from q out. Each segment runs to a side of the box
        (grown by OUTSIDE_MARGIN), the nearest first, leaning off the axis by OUTSIDE_TILT so that it runs along no
        axis plane of a CAD part; where the count is refused (_crossings), to the next, up to `tries` sides.
        away (n, 3): where each point lies off its face (the unit normal of its side, _off): the lean is away from
        the face, and sides that would cross it at a slant (the segment's direction within OUTSIDE_SLANT of the
        face's plane, against the normal) come last: a segment leaving a test point along its face, leaning into
        it, met the face and its neighbour too close together to tell apart. Returns k (n,) and a mask (n,) of the
        points where every count was refused."""
        n = len(Q)
        lo, hi = self.V.min(0), self.V.max(0)
        if self.caps is not None:
            lo, hi = np.minimum(lo, self.caps[0].min(0)), np.maximum(hi, self.caps[0].max(0))
        grow = OUTSIDE_MARGIN * self.span
        gap = np.concatenate([Q - (lo - grow), (hi + grow) - Q], axis=1)  # (n, 6) to the sides -x, -y, -z, +x, +y, +z
        lean = np.ones((n, 3)) if away is None else np.where(away < 0, -1.0, 1.0)  # (n, 3) the lean's signs

        def direction(side):  # (n, 3) unit direction to side (n,) of each point
            axis, row = side % 3, np.arange(n)
            d = np.zeros((n, 3))
            d[row, axis] = np.where(side < 3, -1.0, 1.0)
            for c, tilt in zip((1, 2), OUTSIDE_TILT):
                d[row, (axis + c) % 3] = tilt * lean[row, (axis + c) % 3]
            return d / np.linalg.norm(d, axis=1)[:, None]

        order = gap
        if away is not None:  # slanting into the own face: last
            slant = np.stack([np.einsum("nd,nd->n", direction(np.full(n, s)), away) for s in range(6)], axis=1)
            order = gap + np.where((slant < 0) & (slant > -OUTSIDE_SLANT), 10 * self.span, 0.0)
        sides = np.argsort(order, axis=1, kind="stable")
        k, unsure = np.zeros(n), np.ones(n, dtype=bool)
        todo = np.arange(n)
        for t in range(min(tries, 6)):
            side = sides[todo, t]
            d = direction(sides[:, t])[todo]  # reaching the side's plane: the axis component is the gap
            d *= (gap[todo, side] / np.abs(d[np.arange(len(todo)), side % 3]))[:, None]
            k[todo], unsure[todo] = self._crossing_count(Q[todo], d, layered, max_crossings)
            todo = todo[unsure[todo]]
            if len(todo) == 0:
                break
        return k, unsure

    def _crossing_count(self, Q, d, layered, max_crossings):
        """Signed crossings of the mesh minus those of the caps along the segments Q -> Q + d, and the mask of
        the segments where the count cannot be trusted (_crossings). layered: faces counted with every hit
        (self.layered where None)."""
        layered = self.layered if layered is None else layered
        cross, unsure = _crossings(self.rays, self.normals, Q, d, max_crossings, layered,
                                   lambda n: self._layer_scenes(layered, n))
        if self.caps is not None:
            Vc, _, rays_c, normals_c, layered_c = self.caps
            # only the segments whose box meets the caps' box (small caps over small holes: most segments miss it)
            reach = 2 * rays_c.tol + 1e-12 * self.span
            lo, hi = Vc.min(0) - reach, Vc.max(0) + reach
            near = np.flatnonzero(((np.minimum(Q, Q + d) <= hi) & (np.maximum(Q, Q + d) >= lo)).all(1))
            cross_c, unsure_c = _crossings(rays_c, normals_c, Q[near], d[near], max_crossings, layered_c)
            cross[near] -= cross_c
            unsure[near] |= unsure_c
        return cross, unsure

    def _layer_scenes(self, layered, n_segments):
        """LayerScenes of the faces `layered` (nf,) bool for _crossings' recount of n_segments segments, built once per
        mask, or None (libigl's every-hit recount: fewer than LAYER_SCENES_FROM segments while none are built, or
        more than MAX_LAYER_PATCHES patches). Colours: the faces of a flat patch (_flat_patches) share one; two
        patches that may lie on each other (planes and boxes within LAYER_PLANE_TOL) take different ones, the largest
        patch first; faces of patches that overlap themselves, or past MAX_LAYER_SCENES colours, are `odd`."""
        for mask, scenes in self._layer_cache:
            if mask is layered or np.array_equal(mask, layered):
                return scenes
        if n_segments < LAYER_SCENES_FROM:
            return None
        odd = layered & self._patch_overlaps
        faces = np.flatnonzero(layered & ~self._patch_overlaps)
        patches, p_of = np.unique(self._patch[faces], return_inverse=True)
        scenes = None
        if len(patches) <= MAX_LAYER_PATCHES:
            P, tol = len(patches), LAYER_PLANE_TOL
            tri = self.V[self.F[faces]]  # (m, 3 corners, 3)
            n = self.normals[faces]
            # the planes as the faces are turned, not _planes' (whose sign flips with a normal's first coordinate
            # about 0, which would stretch a patch's range across both signs): compared both ways below
            plane = np.concatenate([n, np.einsum("nd,nd->n", n, tri[:, 0])[:, None] / self.span], axis=1)  # (m, 4)
            box = np.concatenate([tri.min(1), tri.max(1)], axis=1)  # (m, 6): lo, hi
            lo_pl, hi_pl = np.full((P, 4), np.inf), np.full((P, 4), -np.inf)  # each patch's range of planes
            lo_b, hi_b = np.full((P, 3), np.inf), np.full((P, 3), -np.inf)  # and its box
            np.minimum.at(lo_pl, p_of, plane)
            np.maximum.at(hi_pl, p_of, plane)
            np.minimum.at(lo_b, p_of, box[:, :3])
            np.maximum.at(hi_b, p_of, box[:, 3:])
            meet = lambda lo1, hi1, lo2, hi2, t: ((lo1[:, None] <= hi2[None] + t) & (lo2[None] <= hi1[:, None] + t)).all(2)
            # (P, P): boxes within tol x the diagonal, and planes within tol, the same way up or the other
            conflict = meet(lo_b, hi_b, lo_b, hi_b, tol * self.span)
            conflict &= meet(lo_pl, hi_pl, lo_pl, hi_pl, tol) | meet(lo_pl, hi_pl, -hi_pl, -lo_pl, tol)
            np.fill_diagonal(conflict, False)
            colour_p = np.full(P, -1)
            for p in np.argsort(-np.bincount(p_of, minlength=P), kind="stable"):  # greedy, the largest first
                taken = np.zeros(P + 1, dtype=bool)
                taken[colour_p[conflict[p] & (colour_p >= 0)]] = True
                colour_p[p] = int(np.argmin(taken))
            colour = np.full(len(self.F), -1)
            colour[faces] = colour_p[p_of]
            beyond = colour >= MAX_LAYER_SCENES
            odd |= beyond
            colour[beyond] = -1
            scenes = LayerScenes(self.V, self.F, self.normals, colour, odd)
        self._layer_cache.append((layered, scenes))
        return scenes

    def _flat_patches(self):
        """(nf,) flat patch of each face: faces joined through shared edges to faces in the same plane, the same
        way up; and (nf,) bool, the faces of patches that overlap themselves in their plane."""
        a, b, e = self._pairs
        # joined: the same plane, the same way up (a patch folded onto itself, as in a double-sided stretch of a
        # part, becomes two patches in one plane). Two faces on one edge are in the same plane when their unit
        # normals agree to FLAT_TILT (see there)
        tilt = np.abs(self.normals[a] - self.normals[b]).max(1)
        same = tilt < FLAT_TILT
        # or where each face's far corner (opposite the edge) lies within FLAT_DIST of the other's plane: slivers,
        # whose rounded coordinates tilt them by more than FLAT_TILT (FLAT_DIST)
        near = np.flatnonzero(~same & (tilt < FLAT_DIST_TILT))
        if len(near):
            a_, b_, e_ = a[near], b[near], e[near]
            far = lambda f: self.V[self.F[f, np.argmax(self.edge_of[f] == e_[:, None], axis=1)]]  # edge k: opposite corner k
            gap = lambda f, x: np.abs(np.einsum("nd,nd->n", x - self.V[self.F[f, 0]], self.normals[f]))
            tol = FLAT_DIST * self.span
            same[near] = (gap(a_, far(b_)) < tol) & (gap(b_, far(a_)) < tol)
        patch = _components(len(self.F), a[same], b[same])
        # A patch overlaps itself where two of its faces lie on the same side of an edge they share, or more than
        # two share one edge (ChairNoArms4: two faces of one patch on each other, w jumps by 2 across them, and a
        # count of crossings meets one): its faces are treated as lying on another (_regions, layered)
        a, b, e = a[same], b[same], e[same]
        at = self._merged_positions()
        u, v = self.edges[e, 0], self.edges[e, 1]
        side = lambda f: np.einsum("nd,nd->n", np.cross(at[self.Fm[f].sum(1) - u - v] - at[u], at[v] - at[u]),
                                   self.normals[f])  # the third corner's side of the edge, in the face's plane
        folded = side(a) * side(b) > 0
        folded |= np.bincount(e, minlength=len(self.edges))[e] > 1  # three or more faces of a patch on one edge
        return patch, np.isin(patch, patch[a[folded]])

    def _regions(self, net):
        """(nf,) region of each face (-1: none): faces joined through edges with exactly two faces that run
        opposite ways along it (net (ne,) 0, _boundary), leaving out faces crossed by another part or by the
        caps, faces lying in the plane of another part, faces of flat patches that lie on themselves
        (_flat_patches), and degenerate faces."""
        # Faces in the plane of a face they are not joined to by a flat patch, even of the same part, may lie on
        # each other (a fold of a part onto itself): left out too.
        self._patch, overlapping = self._flat_patches()
        self._patch_overlaps = overlapping  # (nf,) bool: faces of flat patches that overlap themselves
        self._lying = _coplanar_across_parts(self._plane, self._patch, REGION_PLANE_TOL, self.V[self.F],
                                             REGION_PLANE_TOL * self.span, self._by_crossed) | overlapping
        ok = ~self._crossed & ~self._lying
        ok &= self.area > 1e-14 * self.span**2
        if self.caps is not None:
            ok &= ~self._faces_meeting_caps(net)
        a, b, e = self._pairs
        keep = (self.edge_count[e] == 2) & (net[e] == 0) & ok[a] & ok[b]
        region = np.where(ok, _components(len(self.F), a[keep], b[keep]), -1)
        _, region[ok] = np.unique(region[ok], return_inverse=True)  # numbered 0..n-1
        return region

    def _label_faces(self, tri):
        nf = len(self.F)
        # Parts thinner than the spacing may cross a face between its test points: those faces are found
        # directly, as the faces an edge of the mesh passes through.
        self._crossed = self._crossed_faces()
        # Faces in the plane of another part's face: where parts touch face to face, a face may overlap
        # another in a region between the test points of both (layered, below).
        self._plane = _planes(self.V, self.F, self.normals, self.span)
        # only faces that may come within REGION_PLANE_TOL of such a face: a part standing on a large face leaves
        # the rest of that face's plane alone. But not next to a crossed face (a corner shared): there a part may
        # meet another along an edge lying in the other's face, which no edge cast sees (Table13: the top of a
        # part tilted by 0.3 degrees rises from such an edge into a slab; its region carried w from outside the
        # slab, 774 of 500,000 samples wrong, when its plane's other faces, far off, no longer kept it out)
        nv = int(self.vid.max()) + 1
        self._by_crossed = np.bincount(self.Fm[self._crossed].reshape(-1), minlength=nv)[self.Fm].any(1)
        self._coplanar = _coplanar_across_parts(self._plane, _parts(self.edge_of, self._pairs), 1e-6, tri,
                                                REGION_PLANE_TOL * self.span, self._by_crossed)
        net = self._boundary()
        self.closed = not net.any()
        # Holes and open sheets: a cap C (a cone over each boundary loop) has the same boundary as the mesh M,
        # so M - C is closed and w = k + w_C, with k = w_(M - C) a whole number that only changes across
        # faces of M or C, and w_C the winding number of the small cap mesh alone.
        self.caps = None if self.closed else _cone_caps(self._merged_positions(), self.edges, net)
        pts, owner, self._near_test_point = self._test_points(tri, np.arange(nf))
        at = self._off(pts, owner)
        self._w_caps = None if self.closed else WindingNumber(self.caps[0], self.caps[1])  # the caps' alone
        w_caps = 0.0 if self.closed else self._w_caps(at)
        # k is the same all over each region of faces that nothing crosses: a few test points per region
        region = self._regions(net)
        # faces that may have another lying on them, for the crossing counts of _region_side_w: those in the
        # plane of a face they are not joined to (to REGION_PLANE_TOL: with 1e-6, 174 samples of ChairNoArms18
        # and 12 of ChairArms4 went wrong), and faces repeated on the same three vertices
        twins = same_vertex_faces(self.Fm)
        lying = self._lying | self._coplanar | (np.bincount(twins)[twins] > 1)
        self._beyond, jump, lies_on = self._beyond_other_faces(pts, owner, at)
        count_probes = winding_cost(self.thinness) > COUNT_PROBES_ABOVE
        w, evaluated = self._region_side_w(at, owner, region, w_caps, lying, beyond=self._beyond,
                                           count_probes=count_probes, jump=jump)
        m = len(owner)
        w_plus, w_minus = w[:m], w[m:]
        self.side_w = (w_plus, w_minus, owner)  # kept for the trust statistics
        # Tier 3 needs the faces with another face lying on them (w jumps by other than 1 across them:
        # coincident layers, which a first-hit ray walk counts once), and anchors: points where k is known.
        jump_error = np.abs(w_plus - w_minus + 1.0)  # 0 where w jumps by exactly 1 across the face
        odd = jump_error > 0.5  # another face lies there
        self.layered = np.bincount(owner, weights=odd, minlength=nf) > 0
        # The faces lying there are layered too: a face that overlaps another only partly might have no
        # test point of its own in the overlap, and a first-hit walk through the overlap could meet it first.
        # Where the face lying there is known (_beyond_other_faces) and w jumps as it says, it is that face;
        # elsewhere every face between the point's two sides (libigl's casts of every hit along an unbounded
        # ray: 21 us each on the embedded table_001, whose 4,608 such points under its stem are known)
        known = odd & (lies_on >= 0) & (np.abs(w_minus - w_plus - jump) < 0.1)
        self.layered[lies_on[known]] = True
        self.layered[self._faces_between(at[:m][odd & ~known], at[m:][odd & ~known])] = True
        self.layered |= self._coplanar
        k = w - w_caps
        # A test point that lies on another face (where parts cross) reads k halfway between whole numbers
        # and is no anchor: which side of that face it is on is undefined. Nor is a pair of test points
        # whose w does not jump by 1 across their face: another face lies on it, or the fast winding
        # number is off there (seen by over 1 on meshes with many faces on non-manifold edges). Nor are the
        # test points of slivers (SLIVER).
        good = (np.abs(k % 1.0 - 0.5) > 0.1) & np.tile((jump_error < 0.1) & ~self.sliver[owner], 2)
        # anchors: every point just off a test point, k = NaN where it is no anchor
        self.anchors, self.anchor_k, self._anchor_tree = at, np.where(good, np.round(k), np.nan), None
        count = np.bincount(owner, minlength=nf)
        plus = np.bincount(owner, weights=np.abs(w_plus) > 0.5, minlength=nf)
        minus = np.bincount(owner, weights=np.abs(w_minus) > 0.5, minlength=nf)
        # A side is labelled only if all its test points agree: where another part crosses the face,
        # the points inside it disagree with the others, and the face falls back to tier 3.
        agree = ((plus == 0) | (plus == count)) & ((minus == 0) | (minus == count))
        self.face_ok = agree & (count > 0) & (self.area > 1e-14 * self.span**2) & ~self._crossed & ~self.sliver
        if self.caps is not None:
            # Near a hole w varies off the surface (w = k + w_caps): the label just off a face says little about
            # a query further off. Faces that meet the caps, and faces with a side where |w| is between 0.3 and
            # 0.7, are left to tier 3 (w at the query itself).
            near_hole = np.bincount(owner, weights=_ambiguous(w_plus) | _ambiguous(w_minus), minlength=nf) > 0
            self.face_ok &= ~near_hole
        self.plus_in = plus == count
        self.minus_in = minus == count
        # +1: the stored normal points outside; -1: it points inside; 0: not a clean boundary face.
        # Internal faces ("both inside") and faces with no clear side are left to tier 3.
        clean = self.face_ok & (self.plus_in != self.minus_in)
        self.out_sign = np.where(clean, np.where(self.plus_in, -1.0, 1.0), 0.0)
        self.winding_evaluated = float(evaluated.mean())  # share of the test points' sides w was evaluated at

    def _faces_between(self, a, b):
        """Faces hit by the short segments a -> b (every hit, coincident faces included)."""
        d = b - a
        length = np.linalg.norm(d, axis=1)
        a, d, length = a[length > 0], d[length > 0], length[length > 0]  # degenerate faces have no normal
        if len(a) == 0:
            return np.zeros(0, dtype=np.int64)
        return self.rays.all_hits(a, d)[1]

    def _crossed_faces(self):
        """(nf,) bool: crossed_faces of the mesh, from the child started in __init__ where there is one."""
        if self._crossed_bg is not None:
            crossed, self._crossed_bg = self._crossed_bg.result(), None
            return crossed
        return crossed_faces(self.rays, self._merged_positions(), self.edges, self.edge_of, self.Fm)

    def _faces_meeting_caps(self, net):
        """(nf,) bool: faces of the mesh that a cap face crosses or touches (an edge of a cap through the face,
        or an edge of the face through a cap). The caps' own rim, the mesh's boundary edges (net != 0), and
        the ends of every edge, where caps and mesh share vertices, are left out."""
        Vc, Fc, rays_c = self.caps[:3]
        # edges of the caps against the mesh, but not the rim: edges between two of the boundary's vertices,
        # which come first in Vc (_cone_caps)
        n_rim = len(np.unique(self.edges[net != 0]))
        ec = np.sort(np.concatenate([Fc[:, [0, 1]], Fc[:, [1, 2]], Fc[:, [2, 0]]]), axis=1)
        key = np.unique(ec[:, 0] * len(Vc) + ec[:, 1])  # the rows of np.unique(ec, axis=0), in its order
        ec = np.stack([key // len(Vc), key % len(Vc)], axis=1)
        ec = ec[ec[:, 1] >= n_rim]
        _, face = _hits_along(self.rays, Vc[ec[:, 0]], Vc[ec[:, 1]] - Vc[ec[:, 0]])
        out = np.zeros(len(self.F), dtype=bool)
        out[face] = True
        # edges of the mesh against the caps, but not its boundary edges (the caps' rim)
        at = self._merged_positions()
        inner = np.flatnonzero(net == 0)
        a, b = at[self.edges[inner, 0]], at[self.edges[inner, 1]]
        edge, _ = _hits_along(rays_c, a, b - a, max_hits=1)  # one hit is enough
        hit_edge = np.zeros(len(self.edges), dtype=bool)
        hit_edge[inner[edge]] = True
        return out | hit_edge[self.edge_of].any(1)

    def _boundary(self):
        """(ne,) int: the mesh's boundary as a chain of edges, how many times more each edge runs from its lower
        to its higher vertex id than back. All 0 when the faces' directed edges cancel in pairs (no hole, no
        open sheet, no edge where two faces run the same way): then w is a whole number off the surface."""
        return np.round(edge_net(self.Fm, self.edge_of, len(self.edges))).astype(np.int64)

    def _merged_positions(self):
        """(nv merged, 3): a position per merged vertex id."""
        at = np.zeros((int(self.vid.max()) + 1, 3))
        at[self.vid] = self.V
        return at

    def _build_pseudonormals(self, tri):
        Fm = self.Fm
        nv = int(self.vid.max()) + 1
        on = self.normals * self.out_sign[:, None]  # outward unit normals, 0 for unclean faces
        bad = (self.out_sign == 0).astype(np.float64)
        # Vertex pseudonormals: angle-weighted sum of outward normals of incident faces (bincount over the
        # corners in the order np.add.at would take them, so the sums are the same to the last bit)
        ang = _corner_angles(tri)  # (nf, 3)
        corner = Fm.T.reshape(-1)  # (3 nf,) corner 0 of every face, then corner 1, then corner 2
        weighted = ang.T.reshape(-1)[:, None] * np.tile(on, (3, 1))  # (3 nf, 3)
        self.vnormal = np.stack([np.bincount(corner, weights=weighted[:, c], minlength=nv) for c in range(3)], axis=1)
        self.vbad = np.bincount(corner, weights=np.tile(bad, 3), minlength=nv)
        # Edge pseudonormals: sum of outward normals of the faces sharing the edge (edge k is opposite
        # corner k). Exactly two incident faces are needed, otherwise the edge falls back to tier 3.
        edges, count = self.edges, self.edge_count
        eid = self.edge_of.reshape(-1)
        self.enormal = np.stack([np.bincount(eid, weights=np.repeat(on[:, c], 3), minlength=len(edges))
                                 for c in range(3)], axis=1)
        self.ebad = np.bincount(eid, weights=np.repeat(bad, 3), minlength=len(edges))
        self.ebad += count != 2

    # ---- queries ----
    def __call__(self, Q, chunk=100_000):
        """Signed distance at Q (n x 3), negative inside. The points are taken in Z-order (query_order: each
        point's answer is its own, and libigl's tree walks run 1.5-2x faster on neighbours in a row), in
        chunks of `chunk` points; the points that need w (tier 3) are gathered and evaluated together,
        WINDING_BATCH at a time."""
        Q = np.asarray(Q, dtype=np.float64)
        pre, order = self._prefetched(Q)  # the children computing the distance at Q (see `queries`), or None
        if order is None:
            order = spatial_order(Q)
        out = np.empty(len(Q))
        try:
            out[order] = self._signed(np.ascontiguousarray(Q[order]), chunk, pre)
        finally:
            self._end_core_split()
        return out

    def _end_core_split(self):
        if self._cores is not None:
            self._cores.end()

    def _signed(self, Q, chunk, pre):
        """__call__ on the points Q in the order given; pre: the children computing their distance, or None."""
        out = np.empty(len(Q))  # the distance, signed once the sign is known
        anchor = np.full(len(Q), -1)  # tier 3: the anchor (index into self.anchors) each query starts from
        todo = []  # indices into Q of points whose sign is w's, in pending batches
        pending = n_rest = 0

        def flush():
            idx = np.concatenate(todo)
            if self.use_labels:
                w = self.continued_winding_number(Q[idx], out[idx], anchor[idx])
            else:
                w = self._w_at_queries(Q[idx])
            inside = np.abs(w) > 0.5
            out[idx] = np.where(inside, -out[idx], out[idx])
            todo.clear()

        if pre is not None:  # a few of their batches per chunk: little left to do here once they are done
            chunk = min(chunk, 4 * pre.batch)
        for s in range(0, len(Q), chunk):
            part = None if pre is None else pre.wait_for(s, min(s + chunk, len(Q)))  # signs as batches come in
            if part is not None:  # (else no children, or one failed on this chunk: computed here)
                part = tuple(a[s : s + chunk] for a in part)
            dist, rest, anchor[s : s + chunk] = self._query(Q[s : s + chunk], part)
            out[s : s + chunk] = dist
            todo.append(s + np.flatnonzero(rest))
            pending += len(todo[-1])
            n_rest += len(todo[-1])
            if pending >= (WINDING_BATCH if pre is None else PREFETCH_TIER3_BATCH):
                flush()
                pending = 0
        if todo:
            flush()
        self.last_fallback = n_rest / max(len(Q), 1)  # share of the queries that tier 3 answered
        return out

    def _prefetched(self, Q):
        """The BackgroundDistance started in __init__ and the order its children take the points in, if Q are
        the queries given there, else (None, None) (and its children are stopped). Used once."""
        pre, self._prefetch = self._prefetch, None
        if pre is None:
            return None, None
        if not (Q is self._prefetch_Q or (Q.shape == self._prefetch_Q.shape and np.array_equal(Q, self._prefetch_Q))):
            pre.cancel()
            return None, None
        return pre, self._prefetch_order

    def close(self):
        """Stop the distance computed in the background (see `queries`) when the queries will not come."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None
        if self._crossed_bg is not None:
            self._crossed_bg.cancel()
            self._crossed_bg = None
        self._end_core_split()

    def continued_winding_number(self, Q, dist=None, anchor=None, max_crossings=64):
        """w at Q carried over from an anchor p (a tier-1 test point where w is known): `anchor` (n,), an index
        into self.anchors for each query (the test point next to its closest point, from _query), or -1 (and
        where that is no anchor, or without `anchor`): the nearest anchor.

        On a closed surface (overlapping, flipped and touching parts included, as long as the faces' edges
        cancel in pairs) w is a whole number off the surface that jumps by exactly 1 across a triangle:
        w(q) = w(p) + sum over the faces the segment q -> p crosses of sign((p - q) . normal). With holes or
        open sheets the mesh M is closed by caps C (cones over its boundary loops, see _cone_caps): the
        same count over the faces of M and, negated, of C carries k = w_M - w_C over, and w_M(q) = k(q) +
        w_C(q), where w_C is the winding number of the few cap triangles alone. Exact like w, at the cost
        of a few ray casts along a short segment instead of the winding number's near field, which is slow
        on CAD meshes (large thin triangles crossing each other). Segments crossing layered faces are
        recounted with every hit; segments with a hit too close to the anchor to tell its side, or crossing
        more than `max_crossings` faces, get w directly, and so do queries closer to the surface than the
        ray casts can resolve (dist: their distance, Rays.tol).
        """
        from scipy.spatial import cKDTree

        near = np.full(len(Q), -1) if anchor is None else anchor.copy()
        search = near < 0
        search[~search] = np.isnan(self.anchor_k[near[~search]])
        if search.any():
            good = np.flatnonzero(~np.isnan(self.anchor_k))
            if self._anchor_tree is None:
                # sliding-midpoint splits: built and searched 1.5-2.5x faster than the median-split default here
                self._anchor_tree = cKDTree(self.anchors[good], balanced_tree=False, compact_nodes=False)
            near[search] = good[self._anchor_tree.query(Q[search])[1]]
        # k(q) = k(p) + crossings of M - crossings of C, and w = k + w_C
        cross, direct = self._crossing_count(Q, self.anchors[near] - Q, None, max_crossings)
        w = self.anchor_k[near] + cross
        if self.caps is not None:
            w += self._w_caps(Q)
        if dist is not None:
            direct |= dist < self.rays.tol
        w[direct] = self._w_at_queries(Q[direct])
        return w

    def _distance_query(self):
        """libigl's exact squared distance to the cut faces, a function of query points (aabb_query). Where the
        ray casts' tree holds the same faces (Rays.cut), through it (Rays.squared_distance: the same answers bit
        for bit, and one tree's build saved, 0.1 s on 100k faces)."""
        if self.rays is None or self.rays.cut is None:
            return aabb_query(self._V_cut, self._F_cut)
        return self.rays.squared_distance

    def _query(self, Q, known_distance=None):
        """Distance at Q signed by tiers 1-2, a mask of the points left to tier 3 (their distance is returned
        unsigned), and for those the anchor to start from (index into self.anchors, -1 elsewhere).
        known_distance: libigl's (squared distance, face, closest point) at Q where already computed."""
        if known_distance is None:
            if self._distance is None:
                self._distance = self._distance_query()
            known_distance = self._distance(np.ascontiguousarray(Q))
        sq, face, closest = known_distance
        dist, face = np.sqrt(sq), self._dist_origin[face]  # the face of F that the closest cut face is part of
        if not self.use_labels:
            return dist, np.ones(len(Q), dtype=bool), np.full(len(Q), -1)
        inside = np.zeros(len(Q), dtype=bool)
        known = np.zeros(len(Q), dtype=bool)
        bary = self._bary(face, closest)  # (n, 3)
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
        # Tier 3 starts from the test point next to the closest point, on the query's side of the face: the
        # segment to it crosses no more than the parts around the query (a nearest-anchor search cost more
        # than the ray casts)
        rest = np.flatnonzero(~known)
        anchor = np.full(len(Q), -1)
        side = np.einsum("nd,nd->n", delta[rest], self.normals[face[rest]]) < 0  # 1: the minus side
        anchor[rest] = self._near_test_point(face[rest], bary[rest]) + side * (len(self.anchors) // 2)
        return np.where(inside, -dist, dist), ~known, anchor

    # ---- trust ----
    def ambiguous_area_fraction(self, low=0.3, high=0.7):
        """Share of the surface area where w just off the surface is far from a whole number.

        On a closed surface (even with overlapping or flipped parts) w is near an integer everywhere
        off the surface; on an open sheet it is near 0.5 on both sides, near a hole in between.
        Each test point stands for an equal share of its face's area.
        """
        if self.side_w is not None:  # tier 1 knows w at every test point: the share over all of them
            w_plus, w_minus, owner = self.side_w
            weight = self.area[owner] / np.bincount(owner, minlength=len(self.F))[owner]
        else:
            w_plus, w_minus, owner, weight = self._sampled_side_w()
        amb = lambda w: _ambiguous(w, low, high).astype(np.float64)
        return float(((amb(w_plus) + amb(w_minus)) / 2 * weight).sum() / max(weight.sum(), 1e-300))

    def _sampled_side_w(self):
        """w just off both sides of AMBIGUITY_SAMPLE test points, for ambiguous_area_fraction without labels:
        (w_plus, w_minus, owner face, weight), each point's weight the area it stands for."""
        # Tier 1 was skipped (w at every query): the share is estimated on AMBIGUITY_SAMPLE test points, drawn by
        # the area each stands for (with replacement, counted by multiplicity: unbiased; standard error under 0.6
        # points of percentage). w just off thin, long faces costs up to ~150 us a point: the check before (every
        # test point of up to 20,000 faces drawn by area, and weighted by area again, which counted large faces
        # twice over) took 38% of the embedded data's sampling time.
        pts, owner, _ = self._test_points(self.V[self.F], np.arange(len(self.F)))
        weight = self.area[owner] / np.bincount(owner, minlength=len(self.F))[owner]
        if len(pts) > AMBIGUITY_SAMPLE:
            pick, count = np.unique(np.random.default_rng(0).choice(len(pts), size=AMBIGUITY_SAMPLE, p=weight / weight.sum()),
                                    return_counts=True)
            pts, owner, weight = pts[pick], owner[pick], count.astype(np.float64)
        w = self._w(self._off(pts, owner))
        return w[: len(pts)], w[len(pts) :], owner, weight


def crossed_faces(rays, at, edges, edge_of, Fm):
    """(nf,) bool: faces whose interior an edge of another face passes through or touches, and the faces on that
    edge (parts crossing without a boolean union). Each edge is followed from hit to hit (Rays `rays`; at: a
    position per merged vertex id; edges, edge_of: _edges of Fm, the faces' merged vertex ids). Which way the
    faces are wound changes nothing: the edges are undirected, and a face is marked for any of its edges."""
    orig, d = at[edges[:, 0]], at[edges[:, 1]] - at[edges[:, 0]]  # edge k: orig + s d, s in [0, 1]
    # float64 casts: an edge that only touches a face counts too
    edge, face = _hits_along(rays, orig, d, float64=True)
    # a face sharing a vertex with the edge meets it there, which is no crossing
    shares = (Fm[face] == edges[edge, :1]).any(1) | (Fm[face] == edges[edge, 1:]).any(1)
    edge, face = edge[~shares], face[~shares]
    crossed = np.zeros(len(Fm), dtype=bool)
    crossed[face] = True
    edge_hit = np.zeros(len(edges), dtype=bool)
    edge_hit[edge] = True
    return crossed | edge_hit[edge_of].any(1)


def _cone_caps(at, edges, net, max_rings=8):
    """Caps that close a mesh with holes or open sheets: for each connected loop of its boundary (edges
    (ne, 2) of merged vertex ids at positions `at`, `net` (ne,) the boundary multiplicity of each edge
    from _boundary), a cone of triangles (apex, lo, hi) from an apex over the loop, whose boundary is the
    loop (the spokes cancel), so the mesh minus the caps is closed. The apex is lifted off the loop's
    centre along its vector area by half the loop's radius: a flat cap over a hole in a flat region
    could lie on the faces around the hole. Returns (Vc, Fc, Rays, unit normals, layered); the loop's
    vertices come first in Vc. An edge that runs n times gives a face repeated n times, and where the
    boundary runs along a T-junction, cap triangles lie on each other with opposite orientations: every cap
    face is marked as layered."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.flatnonzero(net)
    n = net[e]
    verts, inv = np.unique(edges[e].reshape(-1), return_inverse=True)
    lo, hi = inv.reshape(-1, 2).T  # boundary edges as indices into verts
    nc, comp = connected_components(coo_matrix((np.ones(len(e)), (lo, hi)), shape=(len(verts),) * 2), directed=False)
    P, nb = at[verts], len(verts)
    loop_sum = lambda x, ids: np.stack([np.bincount(ids, weights=x[:, k], minlength=nc) for k in range(3)], 1)
    size = np.bincount(comp, minlength=nc)
    centre = loop_sum(P, comp) / size[:, None]
    loop = comp[lo]
    area = loop_sum(np.cross(P[lo] - centre[loop], P[hi] - centre[loop]) * n[:, None] / 2, loop)  # vector area
    radius = np.sqrt(np.bincount(comp, weights=((P - centre[comp]) ** 2).sum(1), minlength=nc) / size)
    apex = centre + 0.5 * radius[:, None] * area / np.maximum(np.linalg.norm(area, axis=1), 1e-300)[:, None]
    # Each triangle (apex, lo, hi) is cut into R strips across its spokes: the winding number's hierarchy
    # approximates small triangles from afar, but a long spoke is near every query along it. R per loop: about
    # its radius over its mean edge, so that the strips are about as long as they are wide (at most max_rings;
    # more, thinner triangles cost more than they save: 8 rings on ChairArms2's loops of 6-31 edges took its
    # caps' winding number from 0.45 s to 0.68 s, while Table7's 256-edge loops need 6-8).
    edge_len = np.bincount(loop, weights=np.linalg.norm(P[hi] - P[lo], axis=1), minlength=nc)
    edge_len /= np.bincount(loop, minlength=nc)  # (nc,) mean edge length of each loop
    R = np.clip(np.round(radius / np.maximum(edge_len, 1e-300)), 1, max_rings).astype(np.int64)  # (nc,)
    rv = R[comp]  # (nb,) rings of each boundary vertex's loop
    first = np.cumsum(rv - 1) - (rv - 1)  # each boundary vertex's first ring vertex, counted from nb + nc
    v_of = np.repeat(np.arange(nb), rv - 1)
    j_of = np.arange(len(v_of)) - first[v_of] + 1  # 1 .. R - 1 along each spoke
    ring = apex[comp[v_of]] + (j_of / rv[v_of])[:, None] * (P[v_of] - apex[comp[v_of]])  # points along the spokes
    Vc = np.concatenate([P, apex, ring])
    at_ring = lambda j, v: np.where(j >= rv[v], v, nb + nc + first[v] + j - 1)  # vertex id of ring j of v (R: v)
    a, b = np.where(n > 0, lo, hi), np.where(n > 0, hi, lo)  # the boundary runs a -> b, as the mesh's
    one = np.ones(len(e), dtype=np.int64)
    tip = np.stack([nb + loop, at_ring(one, a), at_ring(one, b)], axis=1)  # (apex, a, b) at the tip
    k = np.repeat(np.arange(len(e)), R[loop] - 1)  # edge of each strip beyond the tip
    j = np.arange(len(k)) - (np.cumsum(R[loop] - 1) - (R[loop] - 1))[k] + 1  # its ring, 1 .. R - 1
    ak, bk = a[k], b[k]
    strips = [np.stack([at_ring(j, ak), at_ring(j + 1, ak), at_ring(j + 1, bk)], axis=1),
              np.stack([at_ring(j, ak), at_ring(j + 1, bk), at_ring(j, bk)], axis=1)]
    Fc = np.repeat(np.concatenate([tip] + strips), np.abs(np.concatenate([n, n[k], n[k]])), axis=0)
    cross = np.cross(Vc[Fc[:, 1]] - Vc[Fc[:, 0]], Vc[Fc[:, 2]] - Vc[Fc[:, 0]])
    normals = cross / np.maximum(np.linalg.norm(cross, axis=1), 1e-300)[:, None]
    return Vc, Fc, Rays(Vc, Fc), normals, np.ones(len(Fc), dtype=bool)
