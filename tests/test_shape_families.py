"""The embedded generator: parts on their analytic surfaces, holes cut in conforming meshes, sizes bounded."""
import numpy as np
import trimesh

from source.mesh_topology import _edges
from source.shape_families import FAMILIES, _cylinder, embedded_shape, part_sdf, shape_mesh


def _boundary_edges(F):
    """Edges (vertex id pairs) used by one face only."""
    edges, _, count = _edges(F)
    return edges[count == 1]


def test_cylinder_without_step_is_trimeshs():
    a, b = _cylinder(0.3, 0.05), trimesh.creation.cylinder(radius=0.3, height=0.1, sections=192)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)


def test_cylinder_in_rings_is_the_same_closed_solid():
    r, hh, step = 0.2, 0.3, 0.01
    m = _cylinder(r, hh, step)
    assert m.is_watertight and m.is_winding_consistent and m.volume > 0
    np.testing.assert_allclose(m.volume, trimesh.creation.cylinder(radius=r, height=2 * hh, sections=192).volume)
    # every vertex on the analytic cylinder's surface, no edge longer than the step (but the chords of 192ths)
    part = {"type": "cylinder", "center": [0.0, 0.0, 0.0], "radius": r, "half_height": hh, "axis": "z"}
    assert np.abs(part_sdf(part, m.vertices)).max() < 1e-12
    d = m.vertices[m.edges_unique]
    radial = np.abs(np.linalg.norm(d[:, 0, :2], axis=1) - np.linalg.norm(d[:, 1, :2], axis=1))
    assert np.abs(d[:, 0, 2] - d[:, 1, 2]).max() <= step + 1e-12 and radial.max() <= step + 1e-12


def test_holes_are_one_small_loop_and_shapes_stay_small():
    """Each embedded shape (seed 0): a holed part's only boundary is its hole (no cracks), of about its size;
    no shape above 70k faces. Subdividing holed parts whole (the bench's stress meshes) makes the same solid
    with the hole cut from slivers."""
    holed = 0
    for family in FAMILIES.values():
        for i in range(12):
            _, parts, mesh = embedded_shape(family, i)
            assert len(mesh.faces) < 70_000, (family, i, len(mesh.faces))
            for part in parts:
                if not part.get("hole"):
                    continue
                holed += 1
                one = shape_mesh([part], np.random.default_rng(i))
                loop = _boundary_edges(one.faces)
                assert len(loop) >= 8
                # the loop's corners within about two hole radii of each other, on the part's surface
                corners = one.vertices[np.unique(loop)]
                extent = np.linalg.norm(corners.max(0) - corners.min(0))
                assert extent < 4 * part["hole"], (family, i, extent, part["hole"])
                assert np.abs(part_sdf(part, corners)).max() < 1e-9
    assert holed >= 5
    _, parts, _ = embedded_shape("chair", 2)
    (part,) = [p for p in parts if p.get("hole")]
    rings, slivers = (shape_mesh([part], np.random.default_rng(3), subdivide_holed=s) for s in (False, True))
    assert len(slivers.faces) > 5 * len(rings.faces)
    sagitta = part["radius"] * (1 - np.cos(np.pi / 192))  # midpoints of the 192-gon's chords lie inside the circle
    for m in (slivers, rings):  # both on the same part's faceted surface, each with one hole
        assert np.abs(part_sdf(part, m.vertices)).max() < sagitta + 1e-12
        assert 8 <= len(_boundary_edges(m.faces)) < len(m.faces) // 100
