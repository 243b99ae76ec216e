"""DeepSDF preprocessing: SDF samples, surface samples and normalisation for every mesh of a dataset.

  python sample_points.py --dataset EmbeddedShapes --workers 2
Reads data/<dataset>/<class>/<instance>/models/*, writes data/SdfSamples/<dataset>/... (npz with pos/neg),
data/SurfaceSamples/... (ply) and data/NormalizationParameters/... (npz), then a train/test split in
data/splits/. Resumable: meshes with an SDF file are skipped. Untrusted (open) meshes are reported and
skipped; corrupt files are reported and the batch goes on. A summary is written to
data/SdfSamples/<dataset>/summary.json.
"""
import argparse
import json
import sys
from pathlib import Path

from source import paths
from source.datasets import find_models
from source.mesh_sampler import SIGN_METHODS, Job, MeshSampler, sample_dataset
from source.splits import make_split, write_split


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="EmbeddedShapes", help="dataset folder name under --data-dir")
    ap.add_argument("--data-dir", default="data", help="root of the data folder")
    ap.add_argument("--workers", type=int, default=2, help="meshes processed in parallel; each worker gets cores / workers libigl threads, and with more "
                    "than one its exact distance runs in forked children beside the sign's set-up (Linux)")
    ap.add_argument("--num-samples", type=int, default=500_000, help="SDF samples per mesh (DeepSDF: 500,000)")
    ap.add_argument("--surface-samples", type=int, default=30_000, help="surface points per mesh for evaluation")
    ap.add_argument("--sign", choices=SIGN_METHODS, default="winding",
                    help="sign rule: winding = generalised winding number, robust on overlapping, flipped and holed "
                         "parts; deepsdf = the original's 100 virtual scans and 11-neighbour vote (drops "
                         "non-unanimous points; rejects above 2%% wrong observations or 3%% bad triangles)")
    ap.add_argument("--scan-views", type=int, default=100, help="deepsdf sign: number of virtual cameras (100)")
    ap.add_argument("--scan-resolution", type=int, default=400, help="deepsdf sign: pixels per side of each view (400)")
    ap.add_argument("--max-ambiguous", type=float, default=0.05,
                    help="winding sign: reject meshes whose surface has no clear inside over more than this share of area")
    ap.add_argument("--min-inside", type=float, default=0.01,
                    help="winding sign: reject meshes with fewer near-surface samples inside than this share "
                         "(sides that cancel, e.g. a double-sided surface; a solid has 20-55%% inside)")
    ap.add_argument("--keep-untrusted", action="store_true", help="sample meshes with an untrusted sign anyway")
    ap.add_argument("--classes", nargs="*", help="only these class folders")
    ap.add_argument("--limit", type=int, help="at most this many meshes per class")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="share of each class in the test split")
    ap.add_argument("--split-seed", type=int, default=0, help="seed of the train/test split")
    ap.add_argument("--seed", type=int, default=0, help="seed of the samples")
    ap.add_argument("--report", help="also write an HTML page with 3D views of a sampled mesh per class here")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    data = Path(args.data_dir)
    root = data / args.dataset
    if not root.is_dir():
        print(f"error: {root}: no such dataset folder (run load_data.py first)", file=sys.stderr)
        return 1
    models = find_models(root)
    if args.classes:
        models = [m for m in models if m[0] in args.classes]
    if args.limit:
        per = {}
        models = [m for m in models if per.setdefault(m[0], []).append(m) or len(per[m[0]]) <= args.limit]
    jobs = [Job(mesh, args.dataset, cls, inst) for cls, inst, mesh in models]
    sampler = MeshSampler(num_samples=args.num_samples, surface_samples=args.surface_samples, sign=args.sign,
                          max_ambiguous=args.max_ambiguous, min_inside=args.min_inside, keep_untrusted=args.keep_untrusted, seed=args.seed,
                          scan_views=args.scan_views, scan_resolution=args.scan_resolution)
    print(f"{len(jobs)} meshes in {root}; {sampler}")
    summary = sample_dataset(sampler, jobs, data, workers=args.workers, progress=not args.no_progress)
    summary_path = data / paths.SDF_SAMPLES / args.dataset / "summary.json"
    with paths.atomic_path(summary_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    for status in ("skipped", "failed"):
        for e in summary[status]:
            print(f"  {status}: {e['reason']}")

    # Split over the meshes that have samples; an existing split is kept so that it stays stable.
    done = {}
    for cls, inst, _ in models:
        if paths.sdf_samples(data, args.dataset, cls, inst).exists():
            done.setdefault(args.dataset, {}).setdefault(cls, []).append(inst)
    train_path = data / paths.SPLITS / f"{args.dataset}_train.json"
    test_path = data / paths.SPLITS / f"{args.dataset}_test.json"
    if done and not train_path.exists():
        train, test = make_split(done, args.test_fraction, args.split_seed)
        write_split(train_path, train)
        write_split(test_path, test)
        print(f"split written: {train_path}, {test_path}")
    print(f"summary: {summary_path}")
    if args.report:
        from source.report import samples_report

        print(f"report: {samples_report(data, args.dataset, args.report)}")
    return 0 if not summary["failed"] else 2


if __name__ == "__main__":
    sys.exit(main())
