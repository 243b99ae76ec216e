"""The embedded default dataset: parametric chairs, tables, lamps and airplanes, built like CAD models.

Each shape is a list of solid parts (boxes, cylinders, spheres). Its mesh is the parts' meshes put
together without a boolean union, as ShapeNet's models are: parts overlap, leaving faces inside the
solid; some parts are flipped (inward normals) and some have small holes. The true solid is the union
of the parts, so its signed distance is known exactly (min of the parts' distances: exact outside, sign
exact everywhere) and the tests use it as ground truth.
"""
import json

import numpy as np
import trimesh

# ShapeNetCore.v2 synset codes of the categories these families imitate.
FAMILIES = {"03001627": "chair", "04379243": "table", "03636649": "lamp", "02691156": "airplane"}
_AXIS = {"x": 0, "y": 1, "z": 2}


# ---- parts: analytic signed distance (negative inside) ----
def part_sdf(part, p):
    c = np.asarray(part["center"])
    if part["type"] == "box":
        q = np.abs(p - c) - np.asarray(part["half"])
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    if part["type"] == "cylinder":
        a = _AXIS[part["axis"]]
        radial = np.linalg.norm(np.delete(p - c, a, axis=1), axis=1) - part["radius"]
        axial = np.abs(p[:, a] - c[a]) - part["half_height"]
        d = np.stack([radial, axial], axis=1)
        return np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
    if part["type"] == "sphere":
        return np.linalg.norm(p - c, axis=1) - part["radius"]
    raise ValueError(f"unknown part type {part['type']!r}")


def shape_sdf(parts, p):
    """Signed distance of the union of the parts at points p (n, 3)."""
    return np.min([part_sdf(q, p) for q in parts], axis=0)


def _cylinder(radius, half_height, step=None):
    """A 192-sided cylinder along z, revolved from its profile (r, z). With step, the profile's three lines
    (bottom, side, top) are cut into pieces of at most step, so the faces come in rings and a hole of about
    that size can be cut out of any of them; without, the side is one ring of long faces, as CAD writes it."""
    corners = np.array([[0, -half_height], [radius, -half_height], [radius, half_height], [0, half_height]])
    profile = [corners[:1]]
    for a, b in zip(corners[:-1], corners[1:]):
        n = 1 if step is None else int(np.ceil(np.linalg.norm(b - a) / step))
        profile.append(a + (b - a) * np.linspace(0, 1, n + 1)[1:, None])
    return trimesh.creation.revolve(np.concatenate(profile), sections=192)


def part_mesh(part, rings=True):
    """The part's mesh; rings: a holed cylinder in rings of half the hole's size (_cylinder), else CAD's long faces."""
    c = part["center"]
    if part["type"] == "box":
        m = trimesh.creation.box(extents=2 * np.asarray(part["half"]))
    elif part["type"] == "cylinder":
        m = _cylinder(part["radius"], part["half_height"], part["hole"] / 2 if rings and part.get("hole") else None)
        if part["axis"] == "x":
            m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
        elif part["axis"] == "y":
            m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    else:
        m = trimesh.creation.icosphere(subdivisions=4, radius=part["radius"])
    m.apply_translation(c)
    return m


def shape_mesh(parts, rng, subdivide_holed=False):
    """Concatenate the part meshes: no union; some parts flipped, some with a small hole.

    subdivide_holed: subdivide every holed part to the hole's size, cylinders included, as this generator did
    before: each long side face of a 192-sided cylinder is quartered down to 1e-5-wide slivers, up to 845k
    faces a part (the stress meshes of bench/sliver_meshes.py; the same solid, the same analytic truth)."""
    meshes = []
    for part in parts:
        m = part_mesh(part, rings=not subdivide_holed)
        V, F = m.vertices, m.faces
        if part.get("flip"):
            F = F[:, ::-1]
        if part.get("hole"):
            # drop a small patch of faces around one face: a hole in the part's surface. A box is subdivided
            # to the hole's size first; a cylinder was meshed in rings of half its size
            if part["type"] == "box" or subdivide_holed:
                V, F = trimesh.remesh.subdivide_to_size(V, F, max_edge=part["hole"])
            centers = V[F].mean(1)
            seed = centers[rng.integers(len(F))]
            F = F[np.linalg.norm(centers - seed, axis=1) > part["hole"]]
        meshes.append(trimesh.Trimesh(V, F, process=False))
    return trimesh.util.concatenate(meshes)


# ---- families (y up, sizes in metres-like units) ----
def _box(center, half, **kw):
    return {"type": "box", "center": list(map(float, center)), "half": list(map(float, half)), **kw}


def _cyl(center, radius, half_height, axis="y", **kw):
    return {"type": "cylinder", "center": list(map(float, center)), "radius": float(radius),
            "half_height": float(half_height), "axis": axis, **kw}


def _legs(rng, w, d, h, t, round_legs):
    legs = []
    for sx in (-1, 1):
        for sz in (-1, 1):
            c = (sx * (w - t), h / 2, sz * (d - t))
            legs.append(_cyl(c, t, h / 2 + 0.01) if round_legs else _box(c, (t, h / 2 + 0.01, t)))
    return legs


def chair(rng):
    w, d = rng.uniform(0.2, 0.3), rng.uniform(0.2, 0.3)
    h, t, seat = rng.uniform(0.35, 0.5), rng.uniform(0.015, 0.035), rng.uniform(0.025, 0.05)
    back = rng.uniform(0.3, 0.6)
    parts = _legs(rng, w, d, h, t, rng.random() < 0.4)
    parts.append(_box((0, h + seat, 0), (w, seat, d)))
    parts.append(_box((0, h + back / 2 + seat, -d + 0.02), (w, back / 2, 0.02)))
    if rng.random() < 0.4:  # arms
        for sx in (-1, 1):
            parts.append(_box((sx * (w - 0.02), h + 0.15, 0), (0.02, 0.02, d)))
            parts.append(_box((sx * (w - 0.02), h + 0.08, d - 0.03), (0.02, 0.08, 0.02)))
    return parts


def table(rng):
    h, top = rng.uniform(0.35, 0.5), rng.uniform(0.02, 0.05)
    if rng.random() < 0.35:  # round table on a pedestal
        r = rng.uniform(0.3, 0.45)
        return [_cyl((0, h + top, 0), r, top), _cyl((0, h / 2, 0), rng.uniform(0.03, 0.06), h / 2),
                _cyl((0, 0.015, 0), rng.uniform(0.15, 0.25), 0.015)]
    w, d, t = rng.uniform(0.35, 0.6), rng.uniform(0.25, 0.4), rng.uniform(0.02, 0.045)
    return _legs(rng, w, d, h, t, rng.random() < 0.3) + [_box((0, h + top, 0), (w, top, d))]


def lamp(rng):
    h = rng.uniform(0.5, 0.9)
    parts = [_cyl((0, 0.02, 0), rng.uniform(0.1, 0.18), 0.02), _cyl((0, h / 2, 0), rng.uniform(0.012, 0.025), h / 2)]
    shade_r, shade_h = rng.uniform(0.1, 0.22), rng.uniform(0.07, 0.15)
    parts.append(_cyl((0, h + shade_h * 0.6, 0), shade_r, shade_h))
    if rng.random() < 0.5:
        parts.append({"type": "sphere", "center": [0.0, float(h), 0.0], "radius": float(rng.uniform(0.04, 0.07))})
    return parts


def airplane(rng):
    L, r = rng.uniform(0.7, 1.0), rng.uniform(0.05, 0.09)
    span, chord, wing_x = rng.uniform(0.6, 1.0), rng.uniform(0.12, 0.22), rng.uniform(-0.1, 0.1)
    parts = [_cyl((0, 0, 0), r, L / 2, axis="x"),
             _box((wing_x, 0, 0), (chord / 2, 0.015, span / 2)),
             _box((-L / 2 + 0.06, r + 0.06, 0), (0.05, 0.08, 0.012)),
             _box((-L / 2 + 0.06, 0.02, 0), (0.05, 0.01, rng.uniform(0.12, 0.22)))]
    if rng.random() < 0.5:  # engines under the wings
        for sz in (-1, 1):
            parts.append(_cyl((wing_x, -0.05, sz * span / 4), 0.035, 0.07, axis="x"))
    return parts


BUILDERS = {"chair": chair, "table": table, "lamp": lamp, "airplane": airplane}


def make_shape(family, seed):
    """Parts of one shape, with the CAD defects (overlaps always; flips and holes by chance)."""
    rng = np.random.default_rng(seed)
    parts = BUILDERS[family](rng)
    for part in parts:
        u = rng.random()
        if u < 0.15:
            part["flip"] = True
        elif u < 0.25 and part["type"] != "sphere":
            # radius of the patch removed: small next to the part, as a modelling slip would be
            size = min(part["half"]) if part["type"] == "box" else min(part["radius"], part["half_height"])
            part["hole"] = float(min(0.02, 0.5 * size))
    return parts


def embedded_shape(family, index, seed=0, subdivide_holed=False):
    """(shape seed, parts, mesh) of the embedded dataset's shape <family>_<index> (dataset seed `seed`)."""
    shape_seed = seed * 100_003 + list(FAMILIES.values()).index(family) * 1_000 + index
    parts = make_shape(family, shape_seed)
    return shape_seed, parts, shape_mesh(parts, np.random.default_rng(shape_seed + 1), subdivide_holed)


def write_default_dataset(root, per_family=12, seed=0, log=print):
    """Write <root>/<synset>/<model>/models/model_normalized.obj (+ parts.json, the analytic truth)."""
    from pathlib import Path

    from .paths import atomic_path

    root = Path(root)
    n = 0
    for synset, family in FAMILIES.items():
        for i in range(per_family):
            model = root / synset / f"{family}_{i:03d}" / "models"
            obj = model / "model_normalized.obj"
            if obj.exists():
                continue
            shape_seed, parts, mesh = embedded_shape(family, i, seed)
            with atomic_path(model / "parts.json") as tmp:
                tmp.write_text(json.dumps({"family": family, "seed": shape_seed, "parts": parts}, indent=1))
            with atomic_path(obj) as tmp:
                mesh.export(tmp, file_type="obj", include_normals=False, include_texture=False)
            n += 1
    log(f"embedded default dataset: {n} new meshes in {root} ({len(FAMILIES)} families x {per_family})")
    return root
