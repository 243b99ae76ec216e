"""Reconstruct shapes with a trained decoder: fit latent codes (decoder frozen), then marching cubes.

  python reconstruct.py -e training/narrow                     # the test split, batched
  python reconstruct.py -e training/narrow --partial --view 1,0.5,1   # shape completion from one depth view
  python reconstruct.py -e training/narrow --train-codes       # meshes of the training codes
  python reconstruct.py -e training/narrow --interpolate EmbeddedShapes/03001627/chair_000 \\
                                           EmbeddedShapes/04379243/table_000 --steps 5

Writes Reconstructions/<epoch>/Codes/<dataset>/<class>/<instance>.pth and Meshes/.../<instance>.ply in the
experiment folder (meshes in the input mesh's own frame: the normalisation is undone). Shapes whose mesh
and code exist already are skipped, so a stopped run continues.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from source import checkpoints, paths
from source import specs as specs_mod
from source.checkpoints import CheckpointError
from source.deep_sdf import Decoder
from source.deep_sdf_reconstructor import DeepSDFReconstructor, ShapeSamples
from source.meshing import NoSurface, decoder_field, extract_mesh
from source.mesh_export import write_mesh
from source.reference_meshes import normalisation
from source.sdf_samples import SampleFileError, read_sdf_npz
from source.splits import read_split


def load_decoder(experiment, checkpoint, device):
    """(decoder in eval mode, specs, epoch) from an experiment's checkpoint, with clear errors."""
    state, config, epoch = checkpoints.load_model(experiment, checkpoint, map_location=device)
    specs = config or specs_mod.load(Path(experiment) / paths.SPECS)
    decoder = Decoder.from_specs(specs)
    try:
        decoder.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{paths.checkpoint(experiment, paths.MODEL_PARAMS, checkpoint)}: does not fit the "
                              f"network of its specs ({str(e).splitlines()[0]})") from None
    return decoder.to(device).eval(), specs, epoch


def scene_key(scene):
    return "/".join(scene)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-e", "--experiment", required=True, help="experiment folder with a trained decoder")
    p.add_argument("-c", "--checkpoint", default="latest", help="checkpoint: 'latest' (default) or an epoch")
    p.add_argument("--split", default=None, help="split JSON of the shapes to reconstruct (default: TestSplit)")
    p.add_argument("--data-dir", default=None, help="folder holding SdfSamples/ (default: the specs' DataSource)")
    p.add_argument("--iterations", type=int, default=800, help="Adam iterations per code (original: 800)")
    p.add_argument("--samples", type=int, default=8000, help="SDF samples per shape per iteration (original: 8000)")
    p.add_argument("--lr", type=float, default=5e-3, help="initial learning rate, divided by 10 halfway (5e-3)")
    p.add_argument("--batch", type=int, default=64, help="shapes optimised together in one batched problem")
    p.add_argument("--samples-per-pass", type=int, default=None,
                   help="samples per decoder pass within a batch (whole shapes; default 2^15 on a CPU, 2^20 on "
                        "a GPU): lower it if a wide network runs out of GPU memory. Results do not depend on it, "
                        "up to floating point")
    p.add_argument("--resolution", type=int, default=256, help="marching cubes grid points per axis (256)")
    p.add_argument("--mesh-method", choices=["coarse", "dense"], default="coarse",
                   help="coarse-to-fine (default, same mesh, far fewer evaluations) or dense grid")
    p.add_argument("--partial", action="store_true", help="shape completion: fit to one depth view of the mesh")
    p.add_argument("--view", default="1,0.6,0.8", help="--partial: direction the camera looks along, 'x,y,z'")
    p.add_argument("--view-resolution", type=int, default=128, help="--partial: depth image size (pixels per side)")
    p.add_argument("--train-codes", action="store_true", help="meshes of the training codes (no optimisation)")
    p.add_argument("--interpolate", nargs=2, metavar=("A", "B"), default=None,
                   help="meshes along the line between the training codes of two scenes 'dataset/class/instance'")
    p.add_argument("--steps", type=int, default=5, help="--interpolate: number of meshes, ends included")
    p.add_argument("--limit", type=int, default=None, help="only the first N shapes of the split")
    p.add_argument("--overwrite", action="store_true", help="redo shapes whose outputs exist")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial codes and sample draws")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when there is one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    exp = Path(args.experiment)
    try:
        decoder, specs, epoch = load_decoder(exp, args.checkpoint, device)
        data_dir = Path(args.data_dir or specs["DataSource"])
        field = lambda code: decoder_field(decoder, code, device)

        def mesh_out(code, path, scene, norm=True):
            V, F = extract_mesh(field(code), args.resolution, args.mesh_method, where=scene_key(scene))
            if norm:  # undo DeepSDF's normalisation: x = x_normalised / scale - offset
                if paths.normalization(data_dir, *scene).exists():
                    offset, scale = normalisation(data_dir, *scene)
                    V = V / scale - offset
            write_mesh(path, V, F)

        if args.interpolate or args.train_codes:
            codes, scenes, _ = checkpoints.load_codes(exp, args.checkpoint, map_location=device)
            if scenes is None:
                scenes = read_split(specs["TrainSplit"])
            index = {scene_key(s): i for i, s in enumerate(scenes)}
            root = exp / paths.RECONSTRUCTIONS / str(epoch)
            if args.interpolate:
                for name in args.interpolate:
                    if name not in index:
                        raise ValueError(f"--interpolate: '{name}' is not a training scene of {exp}")
                a, b = (codes[index[n]] for n in args.interpolate)
                out = root / "Interpolation" / f"{args.interpolate[0].replace('/', '_')}__{args.interpolate[1].replace('/', '_')}"
                for k, t in enumerate(np.linspace(0.0, 1.0, args.steps)):
                    mesh_out((1 - t) * a + t * b, out / f"{k:03d}.ply", ("interpolation", f"t={t:.2f}"), norm=False)
                print(f"{args.steps} meshes in {out}")
                return 0
            todo = scenes[:args.limit]
            for s in tqdm(todo, desc="training-code meshes", disable=args.no_progress):
                path = root / "TrainingMeshes" / s[0] / s[1] / f"{s[2]}.ply"
                if path.exists() and not args.overwrite:
                    continue
                try:
                    mesh_out(codes[index[scene_key(s)]], path, s)
                except NoSurface as e:
                    print(f"skipped: {e}", file=sys.stderr)
            print(f"meshes in {root / 'TrainingMeshes'}")
            return 0

        split = args.split or specs["TestSplit"]
        if not split:
            raise ValueError("no split: give --split or set TestSplit in specs.json")
        scenes = read_split(split)[:args.limit]
        name = f"{epoch}" if not args.partial else f"{epoch}_partial"
        view = np.array([float(x) for x in args.view.split(",")])
        todo = [s for s in scenes if args.overwrite
                or not (paths.reconstruction_mesh(exp, name, *s).exists() and paths.reconstruction_code(exp, name, *s).exists())]
        print(f"{len(scenes)} shapes in {split}; {len(scenes) - len(todo)} done already; "
              f"{len(todo)} to reconstruct on {device} ({args.iterations} iterations, batches of {args.batch})")

        shapes, kept = [], []
        for s in todo:
            try:
                if args.partial:
                    from source.depth_view import partial_samples
                    from source.reference_meshes import normalised_mesh
                    V, F = normalised_mesh(data_dir, *s)
                    xyz, sdf, free = partial_samples(V, F, view, args.view_resolution, seed=args.seed)
                    shapes.append(ShapeSamples(torch.from_numpy(xyz), torch.from_numpy(sdf), torch.from_numpy(free)))
                else:
                    shapes.append(ShapeSamples.from_pos_neg(*read_sdf_npz(paths.sdf_samples(data_dir, *s))))
                kept.append(s)
            except (SampleFileError, FileNotFoundError, ValueError) as e:
                print(f"skipped: {scene_key(s)}: {e}", file=sys.stderr)
        recon = DeepSDFReconstructor(decoder, specs["CodeLength"], iterations=args.iterations, lr=args.lr,
                                     samples_per_iteration=args.samples, clamp=specs["ClampingDistance"],
                                     seed=args.seed, device=device, progress=not args.no_progress,
                                     samples_per_pass=args.samples_per_pass)
        failed = 0
        # the seed of each shape is fixed by its place in the split, whatever batch it falls in
        seeds = {scene_key(s): args.seed + i for i, s in enumerate(scenes)}
        bar = tqdm(total=len(kept), desc="shapes", unit="shape", disable=args.no_progress)
        for start in range(0, len(kept), args.batch):
            batch, bshapes = kept[start:start + args.batch], shapes[start:start + args.batch]
            codes = recon.reconstruct(bshapes, [seeds[scene_key(s)] for s in batch])
            for s, code in zip(batch, codes):
                with paths.atomic_path(paths.reconstruction_code(exp, name, *s)) as tmp:
                    torch.save(code.cpu().reshape(1, -1), tmp)  # (1, L) as the original writes it
                try:
                    mesh_out(code, paths.reconstruction_mesh(exp, name, *s), s)
                except NoSurface as e:
                    failed += 1
                    print(f"no mesh: {e}", file=sys.stderr)
                bar.update(1)
        bar.close()
        print(f"reconstructions in {exp / paths.RECONSTRUCTIONS / name} ({failed} without a surface)")
        with paths.atomic_path(exp / paths.RECONSTRUCTIONS / name / "config.json") as tmp:
            tmp.write_text(json.dumps({"args": vars(args), "epoch": epoch, "split": split}, indent=2) + "\n")
    except (CheckpointError, SampleFileError, specs_mod.SpecsError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
