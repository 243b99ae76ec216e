"""Side by side in one process: the bare exact distance, SignedDistance of another checkout (A), and this
checkout's (B), alternated on the same mesh and points, so that the machine's load hits all three alike.

  git worktree add ../base <commit>             # the code to compare against
  python bench/bench_sdf_ab.py ../base MESH [MESH ...] [--subdivide 0 1] [--repeat 5]
Each checkout's SignedDistance is called as its own sampler calls it: with `queries=` where it takes
that argument. Prints one JSON line per mesh: median ratios to the distance, and every run's ratio. The
distance is libigl's bare query on the mesh's own faces; `cut_distance_s` and `b_over_cut` are the same
query on this checkout's cut faces (long_faces.cut_for_distance, which SignedDistance now queries) and B's
time over it; `ordered_distance_s` and `b_over_ordered` the query on the cut faces with the points in Z-order
(query_order, as SignedDistance takes them; the sort's time included): the cost of the sign alone. Threads: set IGL_NUM_THREADS (libigl reads it once per process).
"""
import argparse
import importlib.util
import inspect
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_package(name, checkout):
    """Import checkout/source as package `name`, so that two versions live in one process."""
    init = Path(checkout) / "source" / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(name + ".signed_distance")


def signed(module, V, F, Q):
    kwargs = {"queries": Q} if "queries" in inspect.signature(module.SignedDistance).parameters else {}
    return module.SignedDistance(V, F, queries_hint=len(Q), **kwargs)(Q)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the other checkout (A), e.g. a git worktree of an earlier commit")
    ap.add_argument("meshes", nargs="+", help="mesh files")
    ap.add_argument("--subdivide", type=int, nargs="+", default=[0], help="midpoint subdivisions to apply (x4 faces each)")
    ap.add_argument("--points", type=int, default=500_000, help="query points per mesh (DeepSDF's distribution)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds of distance, A and B (A and B swap order each round)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from sdf_inputs import Floors, mesh_and_points

    a, b = load_package("a_source", args.base), load_package("b_source", ROOT)
    for mesh in args.meshes:
        for sub in args.subdivide:
            V, F, Q = mesh_and_points("b_source", mesh, sub, args.points)
            floors = Floors("b_source", V, F)
            t = {"a": [], "b": []}
            for r in range(args.repeat):
                floors.round(Q)
                for k, m in ((("a", a), ("b", b)) if r % 2 == 0 else (("b", b), ("a", a))):
                    s = time.perf_counter(); signed(m, V, F, Q); t[k].append(time.perf_counter() - s)
            t.update(floors.times)
            d, dc, do = np.array(t["distance"]), np.array(t["cut"]), np.array(t["ordered"])
            ra, rb = np.array(t["a"]) / d, np.array(t["b"]) / d
            print(json.dumps({"mesh": Path(mesh).name, "subdivide": sub, "faces": int(len(F)), "cut_faces": int(len(floors.Fc)),
                              "points": len(Q), "igl_threads": os.environ.get("IGL_NUM_THREADS"),
                              "distance_s": round(float(np.median(d)), 3), "cut_distance_s": round(float(np.median(dc)), 3),
                              "ordered_distance_s": round(float(np.median(do)), 3),
                              "a_ratio": round(float(np.median(ra)), 2), "b_ratio": round(float(np.median(rb)), 2),
                              "b_over_cut": round(float(np.median(np.array(t["b"]) / dc)), 2),
                              "b_over_ordered": round(float(np.median(np.array(t["b"]) / do)), 2),
                              "a_runs": [round(x, 2) for x in ra], "b_runs": [round(x, 2) for x in rb]}), flush=True)


if __name__ == "__main__":
    main()
