"""What the signed-distance benches share: a mesh normalised into the unit sphere as the sampler normalises
it, DeepSDF's samples on it, and one round of the three floors of the distance on them.

`pkg` names the package that holds the code ("source", or another checkout's as bench_sdf_ab loads it), so
that a comparison of two checkouts times both against the same inputs.
"""
import importlib
import time

import numpy as np


def mesh_and_points(pkg, mesh, subdivide, n, seed=0):
    """(V (nv, 3), F (nf, 3), Q (n, 3)): the mesh subdivided `subdivide` times (x4 faces each), normalised,
    and n samples drawn as MeshSampler draws them (47/50 near the surface, 3/50 uniform)."""
    import trimesh

    mesh_io = importlib.import_module(pkg + ".mesh_io")
    sampler = importlib.import_module(pkg + ".mesh_sampler")
    V, F = mesh_io.load_mesh(mesh)
    for _ in range(subdivide):
        V, F = trimesh.remesh.subdivide(V, F)
    off, sc = mesh_io.normalization_parameters(V, F)
    V = (V + off) * sc
    Q = sampler.MeshSampler(num_samples=n).sample_points(V, F, np.random.default_rng(seed))
    return V, F, Q


class Floors:
    """The bare exact distance, timed three ways, one round per call: on the mesh's own faces (`distance`),
    on its long faces cut as SignedDistance cuts them for libigl's tree (`cut`), and on those with the points
    in Z-order as SignedDistance takes them, the sort included (`ordered`)."""

    def __init__(self, pkg, V, F):
        self.sd = importlib.import_module(pkg + ".signed_distance")
        self.order = importlib.import_module(pkg + ".query_order").spatial_order
        cut = importlib.import_module(pkg + ".long_faces").cut_for_distance
        self.V, self.F = V, F
        self.Vc, self.Fc, _ = cut(V, F)
        self.times = {"distance": [], "cut": [], "ordered": []}

    def round(self, Q):
        """Time the three once more on the points Q (n, 3); the times gather in self.times."""
        for name, V, F, order in (("distance", self.V, self.F, False), ("cut", self.Vc, self.Fc, False),
                                  ("ordered", self.Vc, self.Fc, True)):
            t = time.perf_counter()
            self.sd.unsigned_distance(V, F, Q[self.order(Q)] if order else Q)
            self.times[name].append(time.perf_counter() - t)
