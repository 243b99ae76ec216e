"""DeepSDFTrainer: the auto-decoder's training loop, on CPU, one GPU, or several processes (torchrun).

Data parallel: every rank holds the decoder (wrapped in DDP) and the whole latent code table. All ranks
draw the same global batch of scenes and the same random sample rows (same seeded generators); each rank
takes a contiguous share of the scenes, and the loss is normalised by the global sample count, so one step
of N processes is the step of one process on the same batch. Decoder gradients are averaged by DDP, code
gradients by an all-reduce; every rank then takes the same optimizer step and the codes stay identical.
"""
import csv
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from . import checkpoints, cpu_memory, distributed, paths
from . import specs as specs_mod
from .deep_sdf import Decoder
from .learning_rate import schedules_from_specs, set_learning_rates
from .losses import clamped_l1_sum, code_penalty_sum, regularization_weight
from .sdf_samples import SDFSamples
from .splits import read_split


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and the last good checkpoint."""


LOG_FIELDS = ["epoch", "loss", "sdf_loss", "code_loss", "lr_decoder", "lr_codes", "seconds", "samples_per_s"]


class DeepSDFTrainer:
    """experiment: folder holding specs.json; everything the run writes goes there.

    specs: a resolved specs dict (source.specs.load); defaults to the experiment's specs.json.
    data_dir: where SdfSamples/ is; defaults to the specs' DataSource.
    """

    def __init__(self, experiment, specs=None, data_dir=None, device=None, compile=False, amp=False,
                 progress=True, tensorboard=True, log=print):
        self.experiment = Path(experiment)
        self.specs = specs if specs is not None else specs_mod.load(self.experiment / paths.SPECS)
        self.rank, self.world, self.device = distributed.init(device)
        if self.device.type == "cpu":
            cpu_memory.keep_freed_memory()  # a CPU step otherwise spends a third of its time page-faulting
        self.main = self.rank == 0
        self.data_dir = Path(data_dir or self.specs["DataSource"])
        self.compile, self.amp = compile, amp
        self.progress = progress and self.main
        self.use_tensorboard = tensorboard and self.main
        self.log = log if self.main else (lambda *a, **k: None)
        self.history = []
        self.start_epoch = 1
        self._built = False

    # ---------------------------------------------------------------- set-up
    def build(self, scenes=None):
        """Load the samples, make the decoder, the codes and the optimizer (fresh, seeded)."""
        s = self.specs
        torch.manual_seed(s["Seed"])
        if scenes is None:
            if not s["TrainSplit"]:
                raise specs_mod.SpecsError("specs.json: key 'TrainSplit' is required to train")
            if not Path(s["TrainSplit"]).exists():
                raise specs_mod.SpecsError(f"{s['TrainSplit']}: no such split file (key 'TrainSplit'); "
                                           f"sample_points.py writes one per dataset")
            scenes = read_split(s["TrainSplit"])
        self.data = SDFSamples(self.data_dir, scenes, device=self.device, progress=self.progress)
        self.scenes = self.data.scenes
        self.decoder = Decoder.from_specs(s).to(self.device)  # seeded: same init on every rank
        # latent codes: one row per scene, N(0, CodeInitStdDev / sqrt(L)) as in the original
        n, L = len(self.scenes), s["CodeLength"]
        self.codes = nn.Embedding(n, L, max_norm=s["CodeBound"]).to(self.device)
        g = torch.Generator().manual_seed(s["Seed"] + 1)
        with torch.no_grad():
            self.codes.weight.copy_(torch.randn(n, L, generator=g) * (s["CodeInitStdDev"] / math.sqrt(L)))
        self.schedules = schedules_from_specs(s)
        # fused on a GPU only: one kernel instead of many small launches. On a CPU it saves 5-10% of a step
        # but rounds differently, and the light presets' results move with that (docs/benchmarks.md).
        self.optimizer = torch.optim.Adam([
            {"params": self.decoder.parameters(), "lr": self.schedules[0](1)},
            {"params": self.codes.parameters(), "lr": self.schedules[1](1)},
        ], fused=self.device.type == "cuda")
        # generators: scene order (CPU, identical on all ranks) and sample rows (on the data's device)
        self.order_gen = torch.Generator().manual_seed(s["Seed"] + 2)
        self.draw_gen = torch.Generator(device=self.device).manual_seed(s["Seed"] + 3)
        torch.manual_seed(s["Seed"] + 4 + self.rank)  # dropout masks

        model = self.decoder
        if self.world > 1:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.model = torch.compile(model) if self.compile else model  # self.decoder stays the plain module
        self._built = True

    def _rng_state(self):
        state = {"torch": torch.get_rng_state(), "order": self.order_gen.get_state(),
                 "draw": self.draw_gen.get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state):
        torch.set_rng_state(state["torch"])
        self.order_gen.set_state(state["order"])
        self.draw_gen.set_state(state["draw"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def resume(self, name="latest"):
        """Continue from a checkpoint: same weights, codes, optimizer moments, random states and log.
        Refuses, printing the differences, when the specs changed (run-length keys excepted)."""
        model, latent, optim = checkpoints.load(self.experiment, name, map_location=self.device)
        saved = json.loads(optim["config"])
        diff = specs_mod.differences(saved, self.specs)
        if diff:
            raise specs_mod.SpecsError(
                f"{self.experiment / paths.SPECS}: specs changed since the checkpoint was saved; refusing to resume:\n"
                + "\n".join(diff))
        scenes = [tuple(x) for x in json.loads(latent["scenes"])]
        self.build(scenes)
        self.decoder.load_state_dict(model["model_state_dict"])
        with torch.no_grad():
            self.codes.weight.copy_(latent["latent_codes"]["weight"])
        self.optimizer.load_state_dict(optim["optimizer_state_dict"])
        self._set_rng_state(optim["rng"])
        self.start_epoch = model["epoch"] + 1
        self._truncate_log(model["epoch"])
        self.log(f"resumed from {self.experiment}/*/{name}.pth at epoch {model['epoch']}")

    # ---------------------------------------------------------------- logging
    def _truncate_log(self, epoch):
        """Drop log rows after `epoch` (written by the run that was stopped)."""
        path = self.experiment / paths.LOGS_CSV
        if not self.main or not path.exists():
            return
        with open(path) as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= epoch]
        with paths.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def _write_log(self, row):
        path = self.experiment / paths.LOGS_CSV
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k in ("loss", "sdf_loss", "code_loss", "lr_decoder", "lr_codes", "samples_per_s"):
                self._tb.add_scalar(f"train/{k}", row[k], row["epoch"])

    def _open_tensorboard(self):
        self._tb = None
        if self.use_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.experiment / paths.TENSORBOARD), purge_step=self.start_epoch)
            except ImportError:
                self.log("tensorboard is not installed: writing Logs.csv only")

    # ---------------------------------------------------------------- one step
    def step(self, scene_ids, epoch):
        """One optimizer step on a global batch of scenes. Returns (sdf loss, code loss) tensors for this
        rank's share, already divided by the global sample count."""
        s = self.specs
        S = s["SamplesPerScene"]
        B = len(scene_ids)
        n_global = B * S
        # this rank's contiguous share of the batch's scenes
        lo = (B * self.rank) // self.world
        hi = (B * (self.rank + 1)) // self.world
        xyz, sdf, _ = self.data.draw(scene_ids, S, self.draw_gen, part=(lo, hi))  # (n, 3), (n, 1)
        # every rank looks up all the batch's codes, so that max_norm renormalises the same rows everywhere
        batch_codes = self.codes(scene_ids.to(self.device))  # (B, L)
        local_codes = batch_codes[lo:hi]  # (b, L)
        clamp = s["ClampingDistance"]
        lam = regularization_weight(s["CodeRegularizationLambda"], epoch) if s["CodeRegularization"] else 0.0

        self.optimizer.zero_grad(set_to_none=True)
        sdf_total = torch.zeros((), device=self.device)
        code_total = torch.zeros((), device=self.device)
        chunks = torch.arange(hi - lo).tensor_split(s["BatchSplit"])  # scenes per gradient-accumulation chunk
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()
        for k, chunk in enumerate(chunks):
            if len(chunk) == 0:
                continue
            c0, c1 = int(chunk[0]), int(chunk[-1]) + 1
            rows = slice(c0 * S, c1 * S)
            codes = local_codes[c0:c1].repeat_interleave(S, dim=0)  # (n_chunk, L): one code per sample
            sync = k == len(chunks) - 1 or self.world == 1
            ctx = self.model.no_sync() if (not sync and hasattr(self.model, "no_sync")) else nullcontext()
            with ctx:
                with amp:
                    pred = self.model(codes, xyz[rows])  # (n_chunk, 1)
                sdf_loss = clamped_l1_sum(pred.float(), sdf[rows], clamp) / n_global
                # the original's penalty: lambda * ramp * sum over samples of ||code|| / number of samples
                code_loss = lam * code_penalty_sum(local_codes[c0:c1]) * S / n_global
                # x world: DDP averages gradients over ranks, the objective is their sum
                ((sdf_loss + code_loss) * self.world).backward()
            sdf_total += sdf_loss.detach()
            code_total += code_loss.detach()
        if self.world > 1:
            grad = self.codes.weight.grad
            if grad is None:
                grad = self.codes.weight.grad = torch.zeros_like(self.codes.weight)
            distributed.all_reduce_sum(grad).div_(self.world)
        if s["GradientClipNorm"] is not None:
            nn.utils.clip_grad_norm_(self.decoder.parameters(), s["GradientClipNorm"])
        self.optimizer.step()
        return sdf_total, code_total

    # ---------------------------------------------------------------- the loop
    def _snapshot_names(self, epoch, last_epoch):
        s = self.specs
        names = []
        if epoch % s["SnapshotFrequency"] == 0 or epoch in s["AdditionalSnapshots"]:
            names.append(epoch)
        if epoch % s["LogFrequency"] == 0 or epoch == last_epoch or names:
            names.append("latest")
        return names

    def _save(self, names, epoch):
        if self.main and names:
            checkpoints.save(self.experiment, names, epoch, self.decoder, self.codes.weight, self.optimizer,
                             self.specs, [list(x) for x in self.scenes], self._rng_state())
            self.last_saved = epoch
        distributed.barrier()

    def train(self, num_epochs=None):
        """Run epochs start_epoch..num_epochs (NumEpochs by default). Returns the per-epoch log rows."""
        if not self._built:
            self.build()
        s = self.specs
        last = num_epochs or s["NumEpochs"]
        self.experiment.mkdir(parents=True, exist_ok=True)
        self.last_saved = self.start_epoch - 1 if self.start_epoch > 1 else None
        self._open_tensorboard()
        self.decoder.train()
        n_scenes = len(self.scenes)
        per_batch = min(s["ScenesPerBatch"], n_scenes)
        epochs = range(self.start_epoch, last + 1)
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(epochs, desc="training", unit="epoch", initial=self.start_epoch - 1, total=last, mininterval=1.0)
            epochs = bar
        try:
            for epoch in epochs:
                t0 = time.perf_counter()
                lr_dec, lr_codes = set_learning_rates(self.optimizer, self.schedules, epoch)
                order = torch.randperm(n_scenes, generator=self.order_gen)
                sdf_sum = torch.zeros((), device=self.device)
                code_sum = torch.zeros((), device=self.device)
                batches = order.split(per_batch)
                for ids in batches:
                    sdf_loss, code_loss = self.step(ids, epoch)
                    sdf_sum += sdf_loss
                    code_sum += code_loss
                totals = torch.stack([sdf_sum, code_sum]) / len(batches)
                distributed.all_reduce_sum(totals)  # each rank holds its share of the global loss
                sdf_mean, code_mean = totals.tolist()
                loss = sdf_mean + code_mean
                if not math.isfinite(loss):
                    good = (f"{self.experiment}/ModelParameters/latest.pth (epoch {self.last_saved})"
                            if self.last_saved else "none saved yet")
                    raise TrainingDiverged(f"{self.experiment}: loss is {loss} at epoch {epoch}; stopped. "
                                           f"Last good checkpoint: {good}")
                seconds = time.perf_counter() - t0
                row = {"epoch": epoch, "loss": loss, "sdf_loss": sdf_mean, "code_loss": code_mean,
                       "lr_decoder": lr_dec, "lr_codes": lr_codes, "seconds": round(seconds, 4),
                       "samples_per_s": round(n_scenes * s["SamplesPerScene"] / seconds, 1)}
                self.history.append(row)
                if self.main:
                    self._write_log(row)
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.5f}", samples_s=f"{row['samples_per_s']:.3g}", refresh=False)
                self._save(self._snapshot_names(epoch, last), epoch)
        finally:
            if bar is not None:
                bar.close()
            if self._tb is not None:
                self._tb.close()
        return self.history
