"""Edges, parts and planes of triangle soups, and the repairs of the signed distance's tier 0: merged
vertices, double-sided meshes made single-sided, faces and parts turned the right way."""
import igl
import numpy as np


def _edges(Fm):
    """Undirected edges of faces Fm (merged vertex ids): edges (ne, 2), the edge id of each face's edge k
    (opposite corner k) (nf, 3), and how many faces share each edge (ne,)."""
    nv = int(Fm.max()) + 1
    a, b = Fm[:, [1, 2, 0]].reshape(-1), Fm[:, [2, 0, 1]].reshape(-1)  # edge k of each face: corners k+1, k+2
    keys, edge_of, count = np.unique(np.minimum(a, b) * nv + np.maximum(a, b), return_inverse=True, return_counts=True)
    return np.stack([keys // nv, keys % nv], axis=1), edge_of.reshape(-1, 3), count


def edge_net(Fm, edge_of, n_edges):
    """(ne,) float: how many times more each edge runs from its lower to its higher vertex id than back, over the
    faces Fm (merged vertex ids) with edge ids edge_of (_edges). Edge k of a face runs from corner k + 1 to corner
    k + 2; the collapsed edge of a degenerate face counts 0. 0 on an edge whose two faces run opposite ways."""
    way = np.sign(Fm[:, [2, 0, 1]] - Fm[:, [1, 2, 0]]).astype(np.float64)
    return np.bincount(edge_of.reshape(-1), weights=way.reshape(-1), minlength=n_edges)


def row_ids(a):
    """(n,) id of each row of the 2-d array a (integers or floats), equal rows sharing one (ids 0..k-1, in the
    rows' lexicographic order as int64 bit patterns). Columns are folded into one int64 key, as many at a time
    as fit in it (a mixed-radix number, which keeps the lexicographic order), each fold a np.unique: planes
    rounded to 1e-4 take one (four columns, 2e4 values each), to 1e-6 two, instead of one per column; one per
    column was 1.6-2.6x faster than np.unique over the rows as raw bytes, and that 3-4x faster than
    np.unique(axis=0)."""
    a = np.ascontiguousarray(a, dtype=np.float64 if a.dtype.kind == "f" else np.int64)
    a = a.view(np.int64)  # floats compared bit for bit (callers turn -0.0 into 0.0)
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64)
    limit = 2**62
    ids, n_ids = np.zeros(len(a), dtype=np.int64), 1  # the rows as ranked so far: none folded yet
    j = 0
    while j < a.shape[1]:
        key, width, ranked = ids, n_ids, False  # a mixed-radix key, key < width (exact in Python integers)
        while j < a.shape[1]:
            col = a[:, j]
            lo = int(col.min())
            w = int(col.max()) - lo + 1
            if width * w > limit:
                if width > n_ids:  # columns folded already: rank them, then go on from there
                    break
                _, col = np.unique(col, return_inverse=True)  # too wide even alone: ranked first
                lo, w, ranked = 0, int(col.max()) + 1, n_ids == 1
            key = key * w + (col - lo)
            width *= w
            j += 1
            if ranked:  # the first column, ranked: its ranks are the ids
                break
        ids = key.reshape(-1) if ranked else np.unique(key, return_inverse=True)[1].reshape(-1)
        n_ids = int(ids.max()) + 1
    return ids


def merged_vertex_ids(V):
    """Id of each vertex after merging coincident ones (CAD files repeat vertices along seams)."""
    R = np.ascontiguousarray(np.round(V, 12), dtype=np.float64) + 0.0  # + 0.0: -0.0 becomes 0.0
    return row_ids(R)


def same_vertex_faces(Fm):
    """(nf,) id of each face's set of three (merged) vertices: faces with the same id are twins, whatever
    their winding."""
    return row_ids(np.sort(Fm, axis=1))


def drop_twin_faces(V, F, vid=None, min_share=0.5):
    """Keep one face of each set of faces on the same three vertices, when such twins are more than
    `min_share` of the surface area: a double-sided mesh (every face stored twice, once each way, as many
    ShapeNet models are) has w = 0 everywhere and would read as all outside. Where only a few faces are
    twins (two parts touching face to face), the twins are kept: w is right with them."""
    vid = merged_vertex_ids(V) if vid is None else vid
    group = same_vertex_faces(vid[F])  # ids 0..k-1
    count = np.bincount(group)
    if count.max(initial=0) <= 1:  # no twins (most meshes): nothing to weigh
        return F
    tri = V[F]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if area[count[group] > 1].sum() <= min_share * area.sum():
        return F
    return F[np.sort(np.unique(group, return_index=True)[1])]


def turned_edge_of(edge_of, turned):
    """_edges' edge_of of faces after those marked in `turned` (nf,) are turned over as F[:, ::-1] turns them: the
    same edges, edge k of a turned face its edge 2 - k before (corners k + 1 and k + 2 of (c, b, a))."""
    return np.where(turned[:, None], edge_of[:, ::-1], edge_of)


def orient_components(V, F, vid=None, edges=None, pairs=None):
    """Turn single faces wound against their neighbours, then flip every connected part whose signed volume
    is negative (a part modelled inside out). edges, pairs: _edges of the faces' merged vertex ids and their
    _face_pairs, where known (turning faces over changes neither pairs nor parts).

    Parts of CAD models are often stored with inward normals; where such a part overlaps another,
    the winding numbers cancel (+1 - 1 = 0) and the overlap would read as outside.
    """
    Fm = (merged_vertex_ids(V) if vid is None else vid)[F]
    # Faces wound against their neighbours: turned to agree with the majority of their patch (faces
    # joined by manifold edges). bfs_orient makes each patch agree with its first face; where that
    # reversed most of a patch, the patch is turned back, so the file's majority winding is kept.
    # Where every edge of two faces runs opposite ways in them, no face disagrees with its patch and
    # bfs_orient would turn none (0.15 s on a 100k-face mesh): it is skipped.
    _, edge_of, count = _edges(Fm) if edges is None else edges
    if (edge_net(Fm, edge_of, len(count))[count == 2] != 0).any():
        Fb, patch = igl.bfs_orient(np.ascontiguousarray(Fm))
        changed = (Fb != Fm).any(1)
        flip = changed != (np.bincount(patch, weights=changed)[patch] > 0.5 * np.bincount(patch)[patch])
        F, Fm = np.where(flip[:, None], F[:, ::-1], F), np.where(flip[:, None], Fm[:, ::-1], Fm)
        edge_of = turned_edge_of(edge_of, flip)
    part = _parts(edge_of, pairs)
    tri = V[F] - V[F].reshape(-1, 3).mean(0)
    vol = np.einsum("nd,nd->n", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6
    flip = np.bincount(part, weights=vol) < 0
    return np.where(flip[part][:, None], F[:, ::-1], F)


def _face_pairs(edge_of):
    """Faces sharing an edge: (a, b, edge), each face paired with the next one around the same edge (edge_of:
    (nf, 3) edge ids of each face, _edges). The same, in the same order, once faces are turned over
    (turned_edge_of): the faces around an edge come in the order of their index either way."""
    flat = edge_of.reshape(-1)
    face = np.repeat(np.arange(len(edge_of)), 3)
    order = np.argsort(flat, kind="stable")
    flat, face = flat[order], face[order]
    same = np.flatnonzero(flat[:-1] == flat[1:])
    return face[same], face[same + 1], flat[same]


def _components(n, a, b):
    """(n,) connected component of each of n nodes joined by the pairs (a, b)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    return connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)[1]


def _parts(edge_of, pairs=None):
    """(nf,) part of each face: parts are sets of faces joined through shared edges (parts that touch at a
    vertex stay apart). edge_of: (nf, 3) edge ids of each face (_edges); pairs: _face_pairs(edge_of) where
    the caller has it already."""
    a, b, _ = _face_pairs(edge_of) if pairs is None else pairs
    return _components(len(edge_of), a, b)


def _planes(V, F, normals, span):
    """(nf, 4): each face's plane as (unit normal up to its sign, offset / span), the normal's sign chosen
    so that its first non-zero coordinate is positive."""
    first = np.where(normals[:, 0] != 0, normals[:, 0], np.where(normals[:, 1] != 0, normals[:, 1], normals[:, 2]))
    n = normals * np.where(first < 0, -1.0, 1.0)[:, None]
    return np.concatenate([n, np.einsum("nd,nd->n", n, V[F[:, 0]])[:, None] / span], axis=1)


def plane_groups(plane, tol):
    """The planes (_planes) grouped twice, rounded to tol and with the bins shifted by half a bin, so that few
    pairs that close are split by a bin edge: yields (nf,) group ids, ids 0..k-1, for each grouping."""
    for shift in (0.0, 0.5):
        yield row_ids(np.floor(plane / tol + shift).astype(np.int64))


def _coplanar_across_parts(plane, part, tol=1e-6, tri=None, margin=0.0, whole=None):
    """(nf,) bool: faces lying in the plane of a face of another part (parts touching face to face, whose
    faces may overlap). Planes (_planes) are compared as (unit normal up to its sign, offset / span) rounded to tol,
    twice, the second time with the bins shifted by half a bin, so that few pairs that close are split by a
    bin edge (axis-aligned faces, the common case in CAD models, have exact normals).

    tri: the faces' corners (nf, 3, 3), where only faces near a face of another part in that plane are wanted
    (_near_other_parts, within `margin`). Without them every face of a plane that two parts share counts (an
    embedded lamp: the whole of its base's bottom, 46,848 faces, for the stem standing on it). whole (nf,) bool:
    faces that count whenever their plane is shared, near another part's face or not."""
    out = np.zeros(len(plane), dtype=bool)
    for group in plane_groups(plane, tol):
        # a group is shared when its faces belong to more than one part: when some face's part is not that of
        # the group's representative (the part of any one of its faces)
        rep = np.empty(group.max() + 1, dtype=part.dtype)
        rep[group] = part
        shared = (np.bincount(group, weights=part != rep[group]) > 0)[group]
        if tri is None:
            out |= shared
        else:
            if whole is not None:
                out |= shared & whole
            idx = np.flatnonzero(shared)
            out[idx[_near_other_parts(tri[idx], group[idx], part[idx], margin, known=out[idx])]] = True
    return out & (np.linalg.norm(plane[:, :3], axis=1) > 0)  # degenerate faces have no plane


def _part_ranks(group, part):
    """(n,) rank of each face's part within its group, the part with the most faces first (0, 1, ...)."""
    _, gp, size = np.unique(group * (int(part.max()) + 1) + part, return_inverse=True, return_counts=True)
    g_of = np.zeros(len(size), dtype=np.int64)
    g_of[gp] = group
    order = np.lexsort((-size, g_of))  # (group, part) pairs by group, then by size
    first = np.searchsorted(g_of[order], g_of[order])  # position of each group's first pair
    rank_of = np.empty(len(size), dtype=np.int64)
    rank_of[order] = np.arange(len(size)) - first
    return rank_of[gp]


def _apart(tri, group, extra=0.0):
    """The groups set apart along x, so that no face is near another group's: (x shift per group id, as a
    function of group ids)."""
    gap = 4.0 * (np.abs(tri).max() + extra + 1.0)
    return lambda g: np.stack([g * gap, np.zeros(len(g)), np.zeros(len(g))], axis=1)


def _near_other_parts(tri, group, part, margin, max_parts=8, known=None):
    """(n,) bool: faces (tri (n, 3, 3)) that may come within margin of a face of the same group and another part.
    Each face lies in the ball around its centroid through its farthest corner: it counts unless the exact
    distance from that centroid to the group's faces of other parts is more than the ball's radius plus margin.
    The groups are set apart along x (so that no face is near another group's) and the parts of each group are
    ranked, the largest first, so that one distance query per rank serves all groups; a face of an earlier rank
    takes part in the later ranks' queries only where it was found near (a face near one of rank r is within its
    own ball plus margin of it, so it was found). Every face of a group with more than max_parts parts counts, and
    the faces `known` (n,) to count (found in another grouping) are not asked again."""
    n = len(tri)
    out = np.zeros(n, dtype=bool) if known is None else known.copy()
    if n == 0:
        return out
    centroid = tri.mean(1)
    radius = np.linalg.norm(tri - centroid[:, None], axis=2).max(1)
    rank = _part_ranks(group, part)  # (n,)
    many = np.bincount(group, weights=rank >= max_parts) > 0
    out[many[group]] = True
    shift = _apart(tri, group, radius.max() + margin)(group)  # (n, 3)
    moved = tri + shift[:, None]
    for r in range(min(int(rank.max()), max_parts - 1) + 1):
        has = np.bincount(group, weights=rank == r, minlength=len(many)) > 0  # (groups,) with a part of rank r
        # a face of an earlier rank that no later part came near was not near this one: only those found stay
        mine = np.flatnonzero((rank == r) & ~out)
        others = np.flatnonzero((rank != r) & has[group] & ~many[group] & ((rank > r) | out))
        if len(mine) == 0 or len(others) == 0:
            continue
        # only faces whose ball reaches the box around their group's faces of other ranks are asked (a small part
        # standing on a large face: an embedded table's 44k faces of its top against its stem's 384)
        lo, hi = np.full((len(many), 3), np.inf), np.full((len(many), 3), -np.inf)
        np.minimum.at(lo, group[others], tri[others].min(1))
        np.maximum.at(hi, group[others], tri[others].max(1))
        g, c = group[mine], centroid[mine]
        box = np.linalg.norm(np.maximum(np.maximum(lo[g] - c, c - hi[g]), 0.0), axis=1)
        mine = mine[box <= radius[mine] + margin]
        if len(mine) == 0:
            continue
        V = np.ascontiguousarray(moved[others].reshape(-1, 3))
        F = np.arange(len(V), dtype=np.int64).reshape(-1, 3)
        sq = igl.point_mesh_squared_distance(np.ascontiguousarray(centroid[mine] + shift[mine]), V, F)[0]
        out[mine] = np.sqrt(sq) <= radius[mine] + margin
    return out


def _nearest_of_other_parts(P, on, tri, group, part, max_parts=8):
    """For points P (m, 3) on the faces `on` (m,) (indices into tri (n, 3, 3), in plane groups `group` (n,) of
    parts `part` (n,)), the nearest face of the same group and another part: (distance (m,), face (m,), -1
    and inf where the group has no other part, or more than max_parts)."""
    dist, face = np.full(len(P), np.inf), np.full(len(P), -1)
    if len(P) == 0:
        return dist, face
    rank = _part_ranks(group, part)
    many = np.bincount(group, weights=rank >= max_parts) > 0
    shift = _apart(tri, group, np.abs(P).max())
    for r in np.unique(rank[on][~many[group[on]]]):
        mine = np.flatnonzero((rank[on] == r) & ~many[group[on]])
        others = np.flatnonzero((rank != r) & np.isin(group, group[on[mine]]))
        if len(others) == 0:
            continue
        V = np.ascontiguousarray((tri[others] + shift(group[others])[:, None]).reshape(-1, 3))
        F = np.arange(len(V), dtype=np.int64).reshape(-1, 3)
        sq, f, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(P[mine] + shift(group[on[mine]])), V, F)
        f = others[f]
        ok = group[f] == group[on[mine]]  # the nearest face of another part is in the point's own group
        dist[mine[ok]], face[mine[ok]] = np.sqrt(sq[ok]), f[ok]
    return dist, face
