"""Signed distance speed: our whole computation vs the bare exact distance vs trimesh, side by side.

  python bench/bench_sdf.py MESH [MESH ...] [--subdivide 0 2 4] [--threads 1 2]
For each mesh: 500,000 DeepSDF-distributed points; times of (a) libigl's exact unsigned distance alone (on
the mesh's faces, on its long faces cut as SignedDistance cuts them: `cut_distance_s`, and on those with
the points in Z-order as SignedDistance takes them, the sort included: `ordered_distance_s`), (b)
SignedDistance as the sampler calls it (distance + winding-number sign, parts re-oriented; with more than one
thread the distance runs in forked children during the set-up), and (c) trimesh's proximity.signed_distance
on 20,000-point subsets (it is slow and its memory grows with the points; it needs rtree, and uses Embree
where embreex is installed, as here). Two ratios to trimesh: `speedup_vs_trimesh`, both on the same subset,
where this project's fixed set-up (orientation repair, trees, caps) weighs on few points; and
`speedup_vs_trimesh_per_point`, trimesh's time per point on a subset (`--trimesh-chunks K` times K subsets one
after the other and takes the fastest: the first builds trimesh's caches) against this project's per point on
the whole sample set, which is what sampling a mesh costs with each. Threads: libigl's worker threads
(IGL_NUM_THREADS), each setting in a fresh process.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(mesh, subdivide, n, trimesh_n, deepsdf=False, repeat=3, trimesh_chunks=1):
    import numpy as np
    import trimesh

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from sdf_inputs import Floors, mesh_and_points
    from source.signed_distance import SignedDistance

    V, F, Q = mesh_and_points("source", mesh, subdivide, n)
    # the same bare query on the faces cut as SignedDistance cuts them for libigl's tree (long_faces), and on
    # those in Z-order: the floor of the distance as this project computes it, and what the sign costs beyond it
    floors = Floors("source", V, F)
    t_ours = []
    for _ in range(repeat):  # alternated, so that load from other processes hits all alike
        floors.round(Q)
        t = time.perf_counter(); sdf = SignedDistance(V, F, queries_hint=len(Q), queries=Q)(Q); t_ours.append(time.perf_counter() - t)
    t_dist, t_cut, t_ord = (np.array(floors.times[k]) for k in ("distance", "cut", "ordered"))
    ratios, over_cut, over_ord = np.array(t_ours) / t_dist, np.array(t_ours) / t_cut, np.array(t_ours) / t_ord
    t_dist, t_ours = float(np.median(t_dist)), float(np.median(t_ours))
    out = {"mesh": Path(mesh).name, "faces": int(len(F)), "cut_faces": int(len(floors.Fc)), "points": n,
           "igl_threads": os.environ.get("IGL_NUM_THREADS"), "distance_s": round(t_dist, 3),
           "cut_distance_s": round(float(np.median(t_cut)), 3), "signed_s": round(t_ours, 3),
           "ratio_to_distance": round(float(np.median(ratios)), 2), "ratios": [round(r, 2) for r in ratios],
           "ratio_to_cut_distance": round(float(np.median(over_cut)), 2),
           "ordered_distance_s": round(float(np.median(t_ord)), 3),
           "ratio_to_ordered_distance": round(float(np.median(over_ord)), 2)}
    if deepsdf:
        from source.virtual_scan import VirtualScan
        t = time.perf_counter(); scan = VirtualScan(V, F); t_scan = time.perf_counter() - t
        t = time.perf_counter(); d_sdf, kept = scan.signed_distance(Q); t_vote = time.perf_counter() - t
        out.update(deepsdf_scan_s=round(t_scan, 3), deepsdf_vote_s=round(t_vote, 3),
                   deepsdf_ratio_to_distance=round((t_scan + t_vote) / t_dist, 2), deepsdf_dropped=round(1 - kept.mean(), 4),
                   deepsdf_sign_agreement=round(float(np.mean(np.sign(d_sdf[kept]) == np.sign(sdf[kept]))), 5),
                   scan_points=len(scan.points))
    if trimesh_n:
        sub = Q[:trimesh_n]
        t = time.perf_counter(); ours = SignedDistance(V, F, queries_hint=len(sub))(sub); t_o = time.perf_counter() - t
        m = trimesh.Trimesh(V, F, process=False)
        t = time.perf_counter(); ref = -trimesh.proximity.signed_distance(m, sub); t_t = time.perf_counter() - t
        # trimesh's cost grows with the points and its memory too, so a whole sample set goes through it in
        # chunks: time trimesh_chunks - 1 more chunks of the same size (each a fresh call); its time per point is
        # that of the fastest chunk (the first builds its caches), so the per-point speed-up is a lower bound
        t_chunks = [t_t]
        for c in range(1, trimesh_chunks):
            t = time.perf_counter(); trimesh.proximity.signed_distance(m, Q[c * trimesh_n:(c + 1) * trimesh_n])
            t_chunks.append(time.perf_counter() - t)
        per_point = min(t_chunks) / trimesh_n
        out.update(trimesh_points=trimesh_n, trimesh_s=round(t_t, 3), ours_same_points_s=round(t_o, 3),
                   speedup_vs_trimesh=round(t_t / t_o, 1), sign_agreement_with_trimesh=float(np.mean(np.sign(ours) == np.sign(ref))),
                   trimesh_chunks_s=[round(x, 3) for x in t_chunks], trimesh_us_per_point=round(per_point * 1e6, 1),
                   ours_us_per_point=round(t_ours / n * 1e6, 2), speedup_vs_trimesh_per_point=round(per_point * n / t_ours, 1))
    import resource
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    # the forked distance children (SignedDistance(queries=...) with more than one thread): the largest one's
    # peak, most of it pages shared with this process
    out["peak_rss_child_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("meshes", nargs="+", help="mesh files")
    ap.add_argument("--subdivide", type=int, nargs="+", default=[0], help="midpoint subdivisions to apply (x4 faces each)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="libigl thread counts to compare")
    ap.add_argument("--points", type=int, default=500_000, help="query points per mesh")
    ap.add_argument("--trimesh-points", type=int, default=20_000, help="subset for trimesh (0: skip)")
    ap.add_argument("--trimesh-chunks", type=int, default=1,
                    help="subsets of --trimesh-points points timed with trimesh one after the other, for its time per point")
    ap.add_argument("--deepsdf", action="store_true",
                    help="also time the original's rule (--sign deepsdf: 100 virtual scans, 11-neighbour vote)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="times each of distance and signed distance is run, alternately; medians are reported")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return run_one(args.one[0], int(args.one[1]), args.points, int(args.one[2]), args.deepsdf, args.repeat,
                       args.trimesh_chunks)
    for mesh in args.meshes:
        for s in args.subdivide:
            for th in args.threads:
                env = dict(os.environ, IGL_NUM_THREADS=str(th))
                tn = args.trimesh_points if th == args.threads[0] and s == args.subdivide[0] else 0
                subprocess.run([sys.executable, __file__, mesh, "--points", str(args.points), "--repeat", str(args.repeat),
                                "--trimesh-chunks", str(args.trimesh_chunks), "--one", mesh, str(s), str(tn)]
                               + (["--deepsdf"] if args.deepsdf else []),
                               env=env, check=True)


if __name__ == "__main__":
    main()
