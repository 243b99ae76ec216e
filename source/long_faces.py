"""Long faces cut into shorter ones: the same surface, which libigl's hierarchies handle better.

CAD models put a few faces across whole parts (a table top in two triangles) beside thousands of small ones.
libigl's AABB tree splits its boxes at the median of the faces' centroids, so a face that spans the mesh
overlaps the boxes of everything near it and every query near it descends into all of them; its fast
winding number approximates clusters of faces seen from afar, and a long face is near many points along it.
Cut across their longest edge until short, the same faces leave both tighter (docs/benchmarks.md, "Long
faces cut for libigl's trees").
"""
import numpy as np

# Faces longer than this (x the bounding-box diagonal) and than DISTANCE_CUT_MEDIAN x the median face's
# longest edge are cut for the distance query and libigl's ray casts (distance_cut_length).
DISTANCE_CUT = 0.1
DISTANCE_CUT_MEDIAN = 8.0


def split_long_faces(V, F, longest, max_faces=None):
    """The same surface, (V', F', origin), with every face cut in two across its longest edge until no edge is
    longer than `longest`; origin (nf',) is the face of F that each face of F' came from. Where the cut faces
    would be more than max_faces, (V, F, arange) is returned instead: the mesh as it is. The faces already
    short enough come first, as they were (the same vertex ids: V's vertices come first in V'), then the
    cut ones, each wound as its face. The cuts leave T-junctions, which neither a distance, nor a ray cast,
    nor a triangle soup's winding number minds: the first two are a minimum or a search over the same
    points, the third a sum of the faces' solid angles."""
    V0, F0 = V, F
    V, todo = np.asarray(V, dtype=np.float64), np.asarray(F, dtype=np.int64)
    src, done, done_src = np.arange(len(todo)), [], []
    while len(todo):
        tri = V[todo]  # (n, 3 corners, 3)
        opposite = np.stack([((tri[:, (k + 2) % 3] - tri[:, (k + 1) % 3]) ** 2).sum(1) for k in range(3)], 1)
        cut = opposite.max(1) > longest**2
        done.append(todo[~cut])
        done_src.append(src[~cut])
        t, k, src = todo[cut], opposite[cut].argmax(1), src[cut]  # corner a opposite the longest edge b -> c
        rows = np.arange(len(t))
        a, b, c = t[rows, k], t[rows, (k + 1) % 3], t[rows, (k + 2) % 3]
        mid = len(V) + rows
        V = np.concatenate([V, (V[b] + V[c]) / 2])
        todo = np.concatenate([np.stack([a, b, mid], 1), np.stack([a, mid, c], 1)])  # wound as (a, b, c)
        src = np.concatenate([src, src])
        if max_faces is not None and sum(map(len, done)) + len(todo) > max_faces:
            return np.asarray(V0, dtype=np.float64), np.asarray(F0, dtype=np.int64), np.arange(len(F0))
    return V, np.concatenate(done), np.concatenate(done_src)


def longest_edges(tri):
    """(nf,) the longest edge of each triangle of tri (nf, 3 corners, 3)."""
    return np.sqrt(np.max([((tri[:, k] - tri[:, k - 1]) ** 2).sum(1) for k in range(3)], axis=0))


def cut_for_distance(V, F, longest=None, span=None):
    """(V', F', origin): the faces of (V, F) cut for libigl's distance tree and ray casts (distance_cut_length),
    unless that would more than double them (plus 10,000): a mesh of many long slivers is left as it is, so
    that its memory stays bounded. longest (nf,): each face's longest edge, and span: the bounding-box
    diagonal, where the caller has them (computed here otherwise)."""
    V = np.asarray(V, dtype=np.float64)
    longest = longest_edges(V[F]) if longest is None else longest
    span = np.linalg.norm(V.max(0) - V.min(0)) if span is None else span
    return split_long_faces(V, F, distance_cut_length(longest, span), max_faces=2 * len(F) + 10_000)


def distance_cut_length(longest, span):
    """The edge length above which faces are cut for the distance query and the ray casts: DISTANCE_CUT of
    the bounding-box diagonal `span`, and DISTANCE_CUT_MEDIAN x the median of the faces' longest edges
    (longest (nf,)), so that a mesh of few large faces is left as it is. Measured on the 42 CAD chairs and
    tables: without the second bound ChairNoArms18 (1,276 faces, cut to 5,540) took 1.33x the time."""
    return max(DISTANCE_CUT * span, DISTANCE_CUT_MEDIAN * float(np.median(longest)) if len(longest) else 0.0)
