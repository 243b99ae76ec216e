"""Evaluate reconstructions: Chamfer distance (DeepSDF's definition), Earth Mover's distance, F-score and
normal consistency, in the normalised frame, per shape and per class.

  python evaluate.py -e training/narrow                 # the newest reconstructions reconstruct.py wrote
  python evaluate.py -e training/narrow --report report/index.html

Writes Evaluation/<name>/metrics.csv (every metric per shape), chamfer.csv (the original's two columns)
and summary.json (mean and median per class, units, the checkpoint) in the experiment folder.
"""
import argparse
import csv
import json
import sys
from pathlib import Path

from tqdm import tqdm

from source import paths
from source import specs as specs_mod
from source.evaluation import METRICS, UNITS, evaluate_shape, summarise
from source.splits import read_split


def newest_reconstruction(experiment):
    """The Reconstructions/<name> folder with meshes and the highest epoch (full before partial)."""
    root = Path(experiment) / paths.RECONSTRUCTIONS
    found = [p for p in root.glob("*") if (p / paths.RECON_MESHES).is_dir()] if root.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{root}: no reconstructions (run reconstruct.py -e {experiment} first)")
    key = lambda p: (int(p.name.split("_")[0]) if p.name.split("_")[0].isdigit() else -1, "_" not in p.name)
    return max(found, key=key).name


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-e", "--experiment", required=True, help="experiment folder")
    p.add_argument("-c", "--reconstructions", default=None,
                   help="name under Reconstructions/ (default: the newest, e.g. '400' or '400_partial')")
    p.add_argument("--split", default=None, help="split JSON (default: the specs' TestSplit)")
    p.add_argument("--data-dir", default=None, help="folder holding SurfaceSamples/ (default: DataSource)")
    p.add_argument("--points", type=int, default=30000, help="points sampled on each reconstruction (30,000)")
    p.add_argument("--emd-points", type=int, default=500, help="points per shape for Earth Mover's distance")
    p.add_argument("--threshold", type=float, default=0.01, help="F-score distance threshold (normalised frame)")
    p.add_argument("--report", default=None, help="also write an HTML report with pictures and the table here")
    p.add_argument("--seed", type=int, default=0, help="seed of the point sampling")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    exp = Path(args.experiment)
    try:
        specs = specs_mod.load(exp / paths.SPECS)
        data_dir = Path(args.data_dir or specs["DataSource"])
        name = args.reconstructions or newest_reconstruction(exp)
        split = args.split or specs["TestSplit"]
        scenes = read_split(split)
        rows, missing = [], []
        for s in tqdm(scenes, desc="evaluating", unit="shape", disable=args.no_progress):
            mesh = paths.reconstruction_mesh(exp, name, *s)
            if not mesh.exists():
                missing.append("/".join(s))
                continue
            try:
                row = evaluate_shape(mesh, data_dir, s, args.points, args.emd_points, args.threshold, args.seed)
            except (FileNotFoundError, ValueError) as e:
                print(f"skipped: {e}", file=sys.stderr)
                continue
            rows.append({"dataset": s[0], "class": s[1], "instance": s[2], **row})
        if not rows:
            raise FileNotFoundError(f"{exp / paths.RECONSTRUCTIONS / name}: no mesh of {split} to evaluate")
        out = paths.evaluation_dir(exp, name)
        with paths.atomic_path(out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, ["dataset", "class", "instance"] + METRICS)
            w.writeheader()
            w.writerows(rows)
        with paths.atomic_path(out / "chamfer.csv") as tmp, open(tmp, "w") as f:
            f.write("shape, chamfer_dist\n")
            for r in rows:
                f.write(f"{r['dataset']}/{r['class']}/{r['instance']}, {r['chamfer']}\n")
        summary = {"experiment": str(exp), "reconstructions": name, "split": split, "shapes": len(rows),
                   "missing": missing, "points": args.points, "emd_points": args.emd_points,
                   "f_score_threshold": args.threshold, "units": UNITS, "per_class": summarise(rows)}
        with paths.atomic_path(out / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
        allc = summary["per_class"]["all"]
        print(f"{len(rows)} shapes: Chamfer mean {allc['chamfer']['mean']:.6f} median {allc['chamfer']['median']:.6f}, "
              f"F-score@{args.threshold} mean {allc['f_score']['mean']:.3f}; written to {out}")
        if missing:
            print(f"{len(missing)} shapes of the split have no reconstruction (first: {missing[0]})")
        if args.report:
            from source.report import experiment_report
            experiment_report(exp, name, data_dir, rows, summary, args.report)
            print(f"report: {Path(args.report).resolve()}")
    except (FileNotFoundError, specs_mod.SpecsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
