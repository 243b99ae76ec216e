"""Train a DeepSDF auto-decoder: python train.py -e training/<experiment>

The experiment folder is seeded by a specs.json (copied from --specs when the folder has none); it then
holds the checkpoints (ModelParameters, LatentCodes, OptimizerParameters at the snapshot epochs and
`latest`), Logs.csv, TensorBoard scalars and config.json (the resolved specs and how the run was made).
Several processes: torchrun --nproc_per_node=N train.py -e ...
"""
import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

import torch

from source import paths
from source import specs as specs_mod
from source.checkpoints import CheckpointError
from source.deep_sdf_trainer import DeepSDFTrainer, TrainingDiverged


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-e", "--experiment", required=True, help="experiment folder, e.g. training/narrow")
    p.add_argument("--specs", default="specs.json",
                   help="specs file copied into a new experiment folder (default: specs.json; see presets/)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                   help="continue a stopped run from 'latest' (default) or a snapshot epoch")
    p.add_argument("--epochs", type=int, default=None, help="train up to this epoch instead of NumEpochs")
    p.add_argument("--data-dir", default=None, help="folder holding SdfSamples/ (default: the specs' DataSource)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when there is one)")
    p.add_argument("--compile", action="store_true", help="torch.compile the decoder (weights saved uncompiled); for GPUs: no gain on a CPU, see docs/benchmarks.md")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast for the decoder (loss in float32); for GPUs: 15x slower on a CPU")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="write Logs.csv only")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    exp = Path(args.experiment)
    spec_file = exp / paths.SPECS
    try:
        if not spec_file.exists():
            if args.resume:
                raise CheckpointError(f"{spec_file}: no such file; there is nothing to resume")
            specs_mod.load(args.specs)  # check before copying
            exp.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.specs, spec_file)
            print(f"new experiment {exp} from {args.specs}")
        specs = specs_mod.load(spec_file)
        trainer = DeepSDFTrainer(exp, specs, data_dir=args.data_dir, device=args.device, compile=args.compile,
                                 amp=args.amp, progress=not args.no_progress,
                                 tensorboard=not args.no_tensorboard)
        if args.resume:
            trainer.resume(args.resume)
        else:
            trainer.build()
        if trainer.main:
            config = {"specs": specs, "args": vars(args), "world_size": trainer.world, "device": str(trainer.device),
                      "torch": torch.__version__, "python": platform.python_version(),
                      "scenes": len(trainer.scenes), "samples_in_memory_bytes": trainer.data.nbytes}
            with paths.atomic_path(exp / "config.json") as tmp:
                tmp.write_text(json.dumps(config, indent=2) + "\n")
            print(f"{len(trainer.scenes)} scenes, {trainer.data.nbytes / 2**20:.1f} MiB of samples on {trainer.device}, "
                  f"{sum(x.numel() for x in trainer.decoder.parameters()):,} decoder parameters, world size {trainer.world}")
        history = trainer.train(args.epochs)
        if trainer.main and history:
            print(f"epoch {history[-1]['epoch']}: loss {history[-1]['loss']:.6f}; checkpoints in {exp}")
    except (specs_mod.SpecsError, CheckpointError, TrainingDiverged, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        from source import distributed
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
