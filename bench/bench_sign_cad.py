"""Sign check on real CAD meshes: the tiered signed distance against w at every query, refereed by the exact
winding number where the two disagree.

  python bench/bench_sign_cad.py MESH_OR_FOLDER [...] [--points 200000] [--out results.json]
For each mesh: DeepSDF-distributed points in the unit-sphere frame; SignedDistance as the sampler uses it
(tiers 1-3) and SignedDistance(face_labels=False) (the fast winding number at every query), one thread of
numpy each, timed beside libigl's bare exact distance. Where their signs differ, libigl's exact
`winding_number` (slow, used only there) says which one is right: `tiered_wrong` and `direct_wrong` count
the samples each got wrong among those (where they agree, both could still be wrong; that is not counted).
Totals are given over all meshes and over those that sample_points keeps (ambiguous area <= 5%).
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESH_EXT = {".obj", ".ply", ".off", ".stl", ".glb"}


def check(mesh, n):
    import igl
    import numpy as np

    from source.mesh_io import load_mesh, normalization_parameters
    from source.mesh_sampler import MeshSampler
    from source.signed_distance import SignedDistance, unsigned_distance

    V, F = load_mesh(mesh)
    off, sc = normalization_parameters(V, F)
    V = (V + off) * sc
    Q = MeshSampler(num_samples=n).sample_points(V, F, np.random.default_rng(0))
    t = time.perf_counter(); unsigned_distance(V, F, Q); t_dist = time.perf_counter() - t
    t = time.perf_counter(); S = SignedDistance(V, F, queries_hint=len(Q), queries=Q); tiered = S(Q); t_tiered = time.perf_counter() - t
    t = time.perf_counter(); direct = SignedDistance(V, F, queries_hint=len(Q), face_labels=False)(Q)
    t_direct = time.perf_counter() - t
    amb = S.ambiguous_area_fraction()
    differ = np.flatnonzero((tiered < 0) != (direct < 0))
    truth = np.abs(igl.winding_number(S.V, S.F, Q[differ])) > 0.5 if len(differ) else np.zeros(0, bool)
    return {"mesh": Path(mesh).name, "faces": int(len(F)), "points": n, "closed": bool(getattr(S, "closed", False)),
            "ambiguous_area": round(amb, 4), "kept": bool(amb <= MeshSampler.max_ambiguous),
            "distance_s": round(t_dist, 3), "tiered_s": round(t_tiered, 3), "direct_s": round(t_direct, 3),
            "tiered_over_distance": round(t_tiered / t_dist, 2), "tier3_share": round(S.last_fallback, 4),
            "differ": int(len(differ)), "tiered_wrong": int(((tiered[differ] < 0) != truth).sum()),
            "direct_wrong": int(((direct[differ] < 0) != truth).sum())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("meshes", nargs="+", help="mesh files, or folders searched for them (recursively)")
    ap.add_argument("--points", type=int, default=200_000, help="query points per mesh")
    ap.add_argument("--out", help="write the per-mesh results and totals to this JSON file")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    files = []
    for m in map(Path, args.meshes):
        files += sorted(p for p in m.rglob("*") if p.suffix.lower() in MESH_EXT) if m.is_dir() else [m]
    rows = []
    for f in files:
        try:
            rows.append(check(f, args.points))
        except Exception as e:  # a bad mesh is reported, the run goes on
            print(f"{f.name}: {type(e).__name__}: {e}", flush=True)
            continue
        print(json.dumps(rows[-1]), flush=True)
    total = {}
    for name, sel in (("all", rows), ("kept", [r for r in rows if r["kept"]])):  # kept: what sample_points keeps
        total[name] = {k: sum(r[k] for r in sel) for k in ("differ", "tiered_wrong", "direct_wrong")}
        total[name].update(meshes=len(sel), **{k: round(sum(r[k] for r in sel), 1) for k in ("distance_s", "tiered_s", "direct_s")})
    print("total", json.dumps(total))
    if args.out:
        Path(args.out).write_text(json.dumps({"meshes": rows, "total": total}, indent=1))


if __name__ == "__main__":
    main()
