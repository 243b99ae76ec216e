"""Pictures for docs/: the training loss curve of an experiment, its test reconstructions beside the ground
truth, and the SDF samples of a few meshes of a sampled dataset.

  python bench/make_figures.py loss -e training/narrow --out docs/narrow_loss.png
  python bench/make_figures.py reconstructions -e training/narrow --out docs/narrow_reconstructions.png
  python bench/make_figures.py samples --dataset ChairsTables --out docs/chairs_tables_samples.png
"""
import argparse
import csv
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import trimesh  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from source import paths  # noqa: E402
from source import specs as specs_mod  # noqa: E402
from source.reference_meshes import normalisation, normalised_mesh  # noqa: E402
from source.splits import read_split  # noqa: E402


def draw_mesh(ax, V, F, title):
    # y is up in ShapeNet: show (x, z, y)
    ax.plot_trisurf(V[:, 0], V[:, 2], F, V[:, 1], linewidth=0, color="lightsteelblue", shade=True)
    ax.set_box_aspect(np.ptp(V[:, [0, 2, 1]], axis=0) + 1e-6)
    ax.view_init(elev=20, azim=-60)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def loss(args):
    with open(Path(args.experiment) / paths.LOGS_CSV) as f:
        rows = list(csv.DictReader(f))
    ep = [int(r["epoch"]) for r in rows]
    plt.figure(figsize=(6, 3.5))
    for k in ("loss", "sdf_loss", "code_loss"):
        plt.semilogy(ep, [float(r[k]) for r in rows], label=k)
    plt.xlabel("epoch")
    plt.ylabel("loss")
    plt.title(f"{Path(args.experiment).name}: training loss")
    plt.legend()
    plt.tight_layout()
    plt.savefig(args.out, dpi=110)


def reconstructions(args):
    exp = Path(args.experiment)
    specs = specs_mod.load(exp / paths.SPECS)
    data = specs["DataSource"]
    name = args.name or sorted((exp / paths.RECONSTRUCTIONS).glob("*"), key=lambda p: p.stat().st_mtime)[-1].name
    scenes = [s for s in read_split(specs["TestSplit"]) if paths.reconstruction_mesh(exp, name, *s).exists()][:args.count]
    fig = plt.figure(figsize=(2.2 * len(scenes), 4.4))
    for k, s in enumerate(scenes):
        V, F = normalised_mesh(data, *s)
        draw_mesh(fig.add_subplot(2, len(scenes), k + 1, projection="3d"), V, F, f"{s[2]}\nground truth")
        m = trimesh.load(paths.reconstruction_mesh(exp, name, *s), process=False, force="mesh")
        off, sc = normalisation(data, *s)
        draw_mesh(fig.add_subplot(2, len(scenes), len(scenes) + k + 1, projection="3d"),
                  (np.asarray(m.vertices) + off) * sc, np.asarray(m.faces), "reconstruction")
    plt.tight_layout()
    plt.savefig(args.out, dpi=100)


def samples(args):
    root = Path(args.data_dir) / paths.SDF_SAMPLES / args.dataset
    files = sorted(root.rglob("*.npz"))
    files = files[:: max(1, len(files) // args.count)][:args.count]
    fig = plt.figure(figsize=(2.6 * len(files), 2.8))
    for k, f in enumerate(files):
        with np.load(f) as z:
            S = np.concatenate([z["pos"], z["neg"]])
        S = S[np.abs(S[:, 3]) < 0.02]
        S = S[np.random.default_rng(0).choice(len(S), min(6000, len(S)), replace=False)]
        ax = fig.add_subplot(1, len(files), k + 1, projection="3d")
        ax.scatter(S[:, 0], S[:, 2], S[:, 1], s=0.3, c=S[:, 3], cmap="RdBu_r", vmin=-0.02, vmax=0.02)
        ax.set_box_aspect(np.ptp(S[:, [0, 2, 1]], axis=0) + 1e-6)
        ax.view_init(elev=20, azim=-60)
        ax.set_title(f"{f.parent.name}/{f.stem}", fontsize=8)
        ax.set_axis_off()
    plt.suptitle(f"{args.dataset}: samples within 0.02 of the surface, coloured by sdf", fontsize=9)
    plt.tight_layout()
    plt.savefig(args.out, dpi=100)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["loss", "reconstructions", "samples"], help="which picture")
    p.add_argument("-e", "--experiment", default="training/narrow", help="experiment folder")
    p.add_argument("--name", default=None, help="reconstructions: folder under Reconstructions/")
    p.add_argument("--dataset", default="ChairsTables", help="samples: the sampled dataset")
    p.add_argument("--data-dir", default="data", help="samples: folder holding SdfSamples/")
    p.add_argument("--count", type=int, default=6, help="how many shapes")
    p.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args()
    {"loss": loss, "reconstructions": reconstructions, "samples": samples}[args.what](args)


if __name__ == "__main__":
    main()
