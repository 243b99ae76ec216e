"""Where the time of one signed distance call goes when libigl has more than one thread: the set-up in this
process beside the forked distance children and the crossed-faces child, then the signs of the points.

  IGL_NUM_THREADS=2 python bench/sdf_timeline.py MESH [--rounds 5] [--points 500000]
Each round times the bare exact distance (libigl's query on the mesh's own faces, its threads) and then
SignedDistance as the sampler calls it (with `queries=`). One JSON line per round:
  setup_s, total_s, ratio       the set-up's and the whole call's wall time; the whole over the bare query
  parent_cpu_s (user + sys)     this process's CPU time over the call: the work on its critical path
  parent_sys_s, minor_faults    the kernel's share of it (page faults, copy-on-write after the forks)
  children_cpu_s                the CPU time of the children (distance and crossed faces), once reaped
  crossed_wait_s                how long the set-up waited for the crossed-faces child
  distance_wait_s               how long the signs waited for the distance children
  distance_done_s               when the last distance batch was in (from the call's start)
  involuntary_switches          how often this process was preempted (by its own children, mostly)
and a last line of medians. Where parent_cpu_s alone exceeds the bare query's time times a target ratio, no
scheduling of the children reaches it: the sign's own work has to shrink or be split.
"""
import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sdf_inputs import mesh_and_points  # noqa: E402
from source import forked_call, forked_distance  # noqa: E402
from source.signed_distance import SignedDistance, unsigned_distance  # noqa: E402

log = {}


def timed(cls, name, key):
    """Wrap cls.name to add its wall time to log[key] (and note when the distance children are all done)."""
    inner = getattr(cls, name)

    def wrapper(self, *args):
        t = time.perf_counter()
        out = inner(self, *args)
        log[key] = log.get(key, 0.0) + time.perf_counter() - t
        if key == "distance_wait_s" and self.is_done.all() and "done_at" not in log:
            log["done_at"] = time.perf_counter()
        return out

    setattr(cls, name, wrapper)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mesh", help="a mesh file")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of bare query then signed distance")
    ap.add_argument("--points", type=int, default=500_000, help="query points (DeepSDF's distribution)")
    args = ap.parse_args()
    timed(forked_distance.BackgroundDistance, "wait_for", "distance_wait_s")
    timed(forked_call.BackgroundCall, "result", "crossed_wait_s")
    V, F, Q = mesh_and_points("source", args.mesh, 0, args.points)
    rows = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        unsigned_distance(V, F, Q)
        bare = time.perf_counter() - t
        log.clear()
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), os.times()
        t0 = time.perf_counter()
        sd = SignedDistance(V, F, queries_hint=len(Q), queries=Q)
        t1 = time.perf_counter()
        sd(Q)
        t2 = time.perf_counter()
        sd.close()
        r1, c1 = resource.getrusage(resource.RUSAGE_SELF), os.times()
        row = {"bare_s": bare, "setup_s": t1 - t0, "total_s": t2 - t0, "ratio": (t2 - t0) / bare,
               "parent_cpu_s": c1.user + c1.system - c0.user - c0.system, "parent_sys_s": c1.system - c0.system,
               "children_cpu_s": (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system),
               "crossed_wait_s": log.get("crossed_wait_s", 0.0), "distance_wait_s": log.get("distance_wait_s", 0.0),
               "distance_done_s": log["done_at"] - t0 if "done_at" in log else None,
               "minor_faults": r1.ru_minflt - r0.ru_minflt, "involuntary_switches": r1.ru_nivcsw - r0.ru_nivcsw}
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    med = {k: round(float(np.median([r[k] for r in rows if r[k] is not None])), 3)
           for k in rows[0] if any(r[k] is not None for r in rows)}
    med["parent_cpu_over_bare"] = round(float(np.median([r["parent_cpu_s"] / r["bare_s"] for r in rows])), 2)
    print(json.dumps({"mesh": Path(args.mesh).name, "faces": int(len(F)), "points": len(Q),
                      "igl_threads": os.environ.get("IGL_NUM_THREADS"), "rounds": args.rounds, "median": med}))


if __name__ == "__main__":
    main()
