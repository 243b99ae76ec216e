"""Training throughput (samples per second, forward + backward + optimizer step), side by side:
the in-memory SDFSamples against a loader that reads every scene's .npz for every batch, as the original
does; and the effect of --amp and --compile. Also the decoder alone on random data (no loading, no
optimizer), the ceiling the pipeline is compared with.

  python bench/bench_training.py --dataset EmbeddedShapes --steps 10 --rounds 5
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from source import cpu_memory, paths  # noqa: E402
from source import specs as specs_mod  # noqa: E402
from source.deep_sdf_trainer import DeepSDFTrainer  # noqa: E402


class NpzPerBatch:
    """The original's data path (deep_sdf/data.py, unpack_sdf_samples): every batch opens each scene's
    sample file, drops rows whose sdf is NaN (a copy of both arrays), and draws half of its samples from
    pos and half from neg with replacement."""

    def __init__(self, data_dir, scenes, device):
        self.files = [paths.sdf_samples(data_dir, *s) for s in scenes]
        self.scenes, self.device = scenes, device

    def draw(self, scene_ids, samples_per_scene, generator=None, part=None):
        half = samples_per_scene // 2
        out = []
        for i in scene_ids.tolist():
            with np.load(self.files[i]) as f:
                pos, neg = torch.from_numpy(f["pos"]), torch.from_numpy(f["neg"])
            pos, neg = pos[~torch.isnan(pos[:, 3])], neg[~torch.isnan(neg[:, 3])]
            out.append(torch.cat([pos[torch.randint(len(pos), (half,))], neg[torch.randint(len(neg), (half,))]]))
        batch = torch.cat(out).to(self.device)
        return batch[:, :3], batch[:, 3:], None


def _sync(trainer):
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()


def throughput(trainer, batches):
    """Samples per second of trainer.step over the given scene batches (after one untimed step)."""
    trainer.step(batches[0], 1)
    _sync(trainer)
    t = time.perf_counter()
    for ids in batches:
        trainer.step(ids, 1)
    _sync(trainer)
    return len(batches) * len(batches[0]) * trainer.specs["SamplesPerScene"] / (time.perf_counter() - t)


def decoder_flops_per_sample(decoder):
    """Floating-point operations of one sample's forward and backward pass through the decoder's linear
    layers: 2 per multiply-add forward, twice that backward (input and weight gradients), so 6 x MACs."""
    macs = sum(m.in_features * m.out_features for m in decoder.modules() if isinstance(m, torch.nn.Linear))
    return 6 * macs


def decoder_alone(trainer, steps):
    """Forward + backward of the decoder on random inputs of one batch's size: no data, no optimizer."""
    s = trainer.specs
    n = min(s["ScenesPerBatch"], len(trainer.scenes)) * s["SamplesPerScene"]
    codes = torch.randn(n, s["CodeLength"], device=trainer.device)
    xyz = torch.randn(n, 3, device=trainer.device)
    trainer.model(codes, xyz).abs().sum().backward()
    _sync(trainer)
    t = time.perf_counter()
    for _ in range(steps):
        trainer.model(codes, xyz).abs().sum().backward()
    _sync(trainer)
    return steps * n / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="EmbeddedShapes", help="sampled dataset (its _train split is used)")
    p.add_argument("--data-dir", default="data", help="folder holding SdfSamples/")
    p.add_argument("--presets", default="very_narrow,narrow,paper", help="comma-separated presets/<name>.json")
    p.add_argument("--steps", type=int, default=10, help="timed steps per configuration and round")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds; each times every variant in turn, and the median round is reported (so that "
                        "load from other processes hits all variants alike)")
    p.add_argument("--batch", default=None, help="override 'ScenesPerBatch,SamplesPerScene' for all presets")
    p.add_argument("--variants", default="memory,npz,amp", help="comma-separated: memory, npz, amp, compile")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--malloc", choices=["keep", "default"], default="keep",
                   help="keep: what the trainer does on a CPU (source/cpu_memory.py); default: glibc's own "
                        "settings, to measure what that costs")
    p.add_argument("--tf32", action="store_true",
                   help="on a GPU, let float32 matrix products use TF32 tensor cores (torch.backends.cuda.matmul)")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    args = p.parse_args()
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.malloc == "default":
        cpu_memory.keep_freed_memory = lambda: False

    results = []
    for preset in args.presets.split(","):
        specs = specs_mod.load(Path("presets") / f"{preset}.json")
        specs["TrainSplit"] = str(Path(args.data_dir) / "splits" / f"{args.dataset}_train.json")
        if args.batch:
            specs["ScenesPerBatch"], specs["SamplesPerScene"] = (int(x) for x in args.batch.split(","))
        row = {"preset": preset, "scenes_per_batch": specs["ScenesPerBatch"], "samples_per_scene": specs["SamplesPerScene"]}
        trainers = {}
        for variant in args.variants.split(","):
            tr = DeepSDFTrainer("/tmp/bench_training_unused", specs, data_dir=args.data_dir, device=args.device,
                                amp=variant == "amp", compile=variant == "compile", progress=False, tensorboard=False)
            tr.build()
            if variant == "npz":
                tr.data = NpzPerBatch(args.data_dir, tr.scenes, tr.device)
            trainers[variant] = tr
        g = torch.Generator().manual_seed(0)
        n = len(tr.scenes)
        per = min(specs["ScenesPerBatch"], n)
        batches = [torch.randperm(n, generator=g)[:per] for _ in range(args.steps)]
        rates = {v: [] for v in list(trainers) + ["decoder_alone"]}
        for _ in range(args.rounds):  # variants interleaved, the same batches for each
            for variant, tr in trainers.items():
                rates[variant].append(throughput(tr, batches))
            rates["decoder_alone"].append(decoder_alone(trainers.get("memory", tr), args.steps))
        for k, v in rates.items():
            row[k] = float(np.median(v))
        flops = decoder_flops_per_sample(tr.decoder)
        row["decoder_alone_tflops"] = row["decoder_alone"] * flops / 1e12
        if "memory" in trainers:
            row["bytes_per_scene"] = trainers["memory"].data.nbytes / n
            row["memory_tflops"] = row["memory"] * flops / 1e12
            # the whole training step's rate against the decoder's own (the GPU target: at least 40%)
            row["memory_over_decoder_alone"] = row["memory"] / row["decoder_alone"]
        if "npz" in rates and "memory" in rates:  # ratio within each round, then the median
            row["memory_over_npz"] = float(np.median(np.array(rates["memory"]) / np.array(rates["npz"])))
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
        results.append(row)
    name = torch.cuda.get_device_name(tr.device) if tr.device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {tr.device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"tf32 {args.tf32}")
    for r in results:
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
