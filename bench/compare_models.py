"""The model comparison DeepSDF's author planned: latent sizes and widths trained on the same data with the
same budget, then reconstruction quality on the test split.

Every model starts from the same specs (default: specs.json, the narrow preset) and changes only the
latent size (CodeLength) or the layer width (NetworkSpecs.dims); epochs, batches, learning rates and the
seed stay the same. Each one is trained with train.py, its test split reconstructed with reconstruct.py
and evaluated with evaluate.py, exactly as a user would run them (resumable: finished steps are skipped).

  python bench/compare_models.py --out docs/model_comparison.png --json docs/model_comparison.json

Prints a Markdown table (Chamfer mean/median on the test split, per family, final training loss,
parameters, training time) and draws Chamfer against latent size for each width.
"""
import argparse
import copy
import csv
import json
import subprocess
from collections import Counter
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from source import paths  # noqa: E402
from source import specs as specs_mod  # noqa: E402

# LATENTxWIDTH: latent sizes at the narrow width, then other widths at latent 32. The skip layer must be
# wider than the code plus xyz (the layer before it outputs width - latent - 3 features), so latent 256
# needs a wider network: 384 leaves 125 features before the skip, as 128 does for latent 3 (the
# original's 512 leaves 253 for its latent 256).
DEFAULT_MODELS = ["16x128", "32x128", "64x128", "256x384", "32x64", "32x256"]


def model_specs(base, latent, width):
    s = copy.deepcopy(base)
    s["CodeLength"] = latent
    base_width = max(base["NetworkSpecs"]["dims"])
    s["NetworkSpecs"]["dims"] = [width] * len(base["NetworkSpecs"]["dims"])
    # Adam's step moves every weight by about the learning rate, so a wider layer's output moves more:
    # wider networks get the decoder rate scaled by base width / width (never raised). With the base
    # rate, 6 x 384 died at its first epoch (every ReLU off, a constant output).
    if width > base_width:
        s["LearningRateSchedule"][0]["Initial"] *= base_width / width
    s["Description"] = [f"Model comparison: latent {latent}, {len(base['NetworkSpecs']['dims'])} x {width}; "
                        "everything else as in the base specs."]
    return s


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def parameters(specs):
    from source.deep_sdf import Decoder
    return sum(p.numel() for p in Decoder.from_specs(specs).parameters())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="specs.json", help="specs every model starts from")
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="LATENTxWIDTH entries to train")
    p.add_argument("--root", default="training/compare", help="folder for the experiments")
    p.add_argument("--iterations", type=int, default=300, help="reconstruction iterations per test shape")
    p.add_argument("--samples", type=int, default=4000, help="reconstruction samples per shape per iteration")
    p.add_argument("--resolution", type=int, default=128, help="marching cubes resolution")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training")
    p.add_argument("--out", default=None, help="write the plot here (PNG)")
    p.add_argument("--json", default=None, help="write the results here (JSON)")
    args = p.parse_args()

    base = specs_mod.load(ROOT / args.base)
    py = sys.executable
    results = []
    for m in args.models:
        latent, width = (int(x) for x in m.split("x"))
        exp = Path(args.root) / f"latent{latent}_width{width}"
        specs = model_specs(base, latent, width)
        (ROOT / exp).mkdir(parents=True, exist_ok=True)
        spec_file = ROOT / exp / "specs.requested.json"
        spec_file.write_text(json.dumps(specs, indent=2) + "\n")
        t0 = time.perf_counter()
        train = [py, "train.py", "-e", str(exp), "--no-progress", "--no-tensorboard"]
        train += ["--threads", str(args.threads)] if args.threads else []
        if (ROOT / exp / paths.MODEL_PARAMS / "latest.pth").exists():
            train += ["--resume"]
        else:
            train += ["--specs", str(spec_file)]
        run(train)
        train_s = time.perf_counter() - t0
        run([py, "reconstruct.py", "-e", str(exp), "--iterations", str(args.iterations), "--samples",
             str(args.samples), "--resolution", str(args.resolution), "--no-progress"])
        run([py, "evaluate.py", "-e", str(exp), "--no-progress"])
        ev = sorted((ROOT / exp / paths.EVALUATION).glob("*/summary.json"), key=lambda f: f.stat().st_mtime)[-1]
        summary = json.loads(ev.read_text())
        with open(ROOT / exp / paths.LOGS_CSV) as f:
            logs = list(csv.DictReader(f))
        results.append({
            "latent": latent, "width": width, "depth": len(specs["NetworkSpecs"]["dims"]),
            "parameters": parameters(specs), "epochs": specs["NumEpochs"],
            "final_loss": float(logs[-1]["loss"]), "final_sdf_loss": float(logs[-1]["sdf_loss"]),
            "train_seconds_total": sum(float(r["seconds"]) for r in logs),
            "wall_seconds_train_step": train_s,
            "chamfer": summary["per_class"]["all"]["chamfer"],
            "f_score": summary["per_class"]["all"]["f_score"],
            "per_class": {c: v["chamfer"] for c, v in summary["per_class"].items() if c != "all"},
            "shapes": summary["shapes"],
        })

    classes = sorted({c for r in results for c in r["per_class"]})
    names = dict(line.split(maxsplit=1) for line in (ROOT / "shapenet_classes_list.txt").read_text().splitlines()
                 if line.strip())
    head = ["latent", "width", "parameters", "final loss", "Chamfer mean", "Chamfer median", "F-score"]
    head += [f"{names.get(c, c)} mean" for c in classes]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        row = [r["latent"], r["width"], f"{r['parameters']:,}", f"{r['final_loss']:.4f}",
               f"{r['chamfer']['mean']:.5f}", f"{r['chamfer']['median']:.5f}", f"{r['f_score']['mean']:.3f}"]
        row += [f"{r['per_class'][c]['mean']:.5f}" if c in r["per_class"] else "-" for c in classes]
        print("| " + " | ".join(str(x) for x in row) + " |")

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        base_w = Counter(r["width"] for r in results).most_common(1)[0][0]
        base_l = Counter(r["latent"] for r in results).most_common(1)[0][0]
        # the latent sizes at the base width, plus those too large for it (they needed a wider network)
        by_latent = sorted((r for r in results if r["width"] == base_w or r["latent"] + 3 >= base_w),
                           key=lambda r: r["latent"])
        by_width = sorted((r for r in results if r["latent"] == base_l), key=lambda r: r["width"])
        for a, rs, key, label in ((ax[0], by_latent, "latent", "latent size"), (ax[1], by_width, "width", "width")):
            x = [r[key] for r in rs]
            a.plot(x, [r["chamfer"]["mean"] for r in rs], "o-", label="mean")
            a.plot(x, [r["chamfer"]["median"] for r in rs], "s--", label="median")
            for r in rs:
                a.annotate(f"{r['latent']}/{r['width']}", (r[key], r["chamfer"]["mean"]), fontsize=7,
                           textcoords="offset points", xytext=(3, 3))
            a.set_xscale("log", base=2)
            a.set_xlabel(label)
            a.set_ylabel("test Chamfer (normalised frame)")
            a.legend(fontsize=7)
        ax[0].set_title(f"latent size (width {base_w}; labels latent/width)", fontsize=9)
        ax[1].set_title(f"width (latent {base_l})", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
