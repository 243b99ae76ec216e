"""Reconstruction and mesh extraction, side by side on one trained experiment.

1. Batched latent optimisation of K shapes against the same K shapes one at a time (same iterations,
   samples and seeds): shapes per minute and the largest difference between the two sets of codes.
2. Mesh extraction at a resolution (256 by default): coarse-to-fine against the dense grid with the same
   network and code: seconds, network evaluations, and the Chamfer distance between the two meshes.

  python bench/bench_reconstruction.py -e training/narrow --shapes 8 --iterations 100
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from source import metrics, paths  # noqa: E402
from source.deep_sdf_reconstructor import DeepSDFReconstructor, ShapeSamples  # noqa: E402
from source.experiment import Experiment  # noqa: E402
from source.meshing import coarse_to_fine_grid, decoder_field, dense_grid, marching_cubes  # noqa: E402
from source.sdf_samples import read_sdf_npz  # noqa: E402
from source.splits import read_split  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-e", "--experiment", default="training/narrow", help="trained experiment folder")
    p.add_argument("--shapes", type=int, default=8, help="shapes reconstructed (repeats the split if needed)")
    p.add_argument("--iterations", type=int, default=100, help="iterations for both procedures")
    p.add_argument("--samples", type=int, default=8000, help="samples per shape per iteration")
    p.add_argument("--resolution", type=int, default=256, help="mesh grid resolution")
    p.add_argument("--device", default=None, help="cpu or cuda")
    p.add_argument("--samples-per-pass", type=int, default=None,
                   help="samples per decoder pass of the batched problem (default: the reconstructor's, by device)")
    p.add_argument("--skip-reconstruction", action="store_true", help="only the mesh extraction part")
    p.add_argument("--tf32", action="store_true",
                   help="on a GPU, let float32 matrix products use TF32 tensor cores (torch.backends.cuda.matmul)")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    args = p.parse_args()
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    exp = Experiment.load(args.experiment, device=device)
    for q in exp.decoder.parameters():
        q.requires_grad_(False)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {"device": str(device), "torch": torch.__version__, "tf32": args.tf32}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)

    if not args.skip_reconstruction:
        scenes = read_split(exp.specs["TestSplit"])
        scenes = (scenes * (args.shapes // len(scenes) + 1))[:args.shapes]
        shapes = [ShapeSamples.from_pos_neg(*read_sdf_npz(paths.sdf_samples(exp.specs["DataSource"], *s)))
                  for s in scenes]
        rec = DeepSDFReconstructor(exp.decoder, exp.specs["CodeLength"], iterations=args.iterations,
                                   samples_per_iteration=args.samples, device=device,
                                   samples_per_pass=args.samples_per_pass)
        seeds = list(range(len(shapes)))
        rec.reconstruct(shapes[:1], seeds[:1])  # warm-up
        sync()
        t = time.perf_counter()
        batched = rec.reconstruct(shapes, seeds)
        sync()
        tb = time.perf_counter() - t
        t = time.perf_counter()
        alone = torch.cat([rec.reconstruct([s], [k]) for s, k in zip(shapes, seeds)])
        sync()
        ts = time.perf_counter() - t
        out.update(shapes=len(shapes), iterations=args.iterations, samples=args.samples,
                   samples_per_pass=rec.samples_per_pass,
                   batched_s=tb, sequential_s=ts, batched_shapes_per_min=60 * len(shapes) / tb,
                   sequential_shapes_per_min=60 * len(shapes) / ts, speedup=ts / tb,
                   max_code_difference=float((batched - alone).abs().max()))
        print(json.dumps(out), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(out, indent=2))

    code = exp.codes[0]
    field = decoder_field(exp.decoder, code, device)
    field(torch.zeros(1000, 3).numpy())  # warm-up
    t = time.perf_counter()
    values = dense_grid(field, args.resolution)
    Vd, Fd = marching_cubes(values)
    td = time.perf_counter() - t
    t = time.perf_counter()
    vals, mask, n_eval = coarse_to_fine_grid(field, args.resolution)
    vals[np.isnan(vals)] = 1.0  # masked-out cells, never read
    Vc, Fc = marching_cubes(vals, mask=mask)
    tc = time.perf_counter() - t
    out.update(resolution=args.resolution, dense_s=td, coarse_s=tc, mesh_speedup=td / tc,
               dense_evaluations=args.resolution ** 3, coarse_evaluations=n_eval,
               dense_faces=len(Fd), coarse_faces=len(Fc), chamfer_between=metrics.chamfer(Vd, Vc))
    print(json.dumps(out), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
