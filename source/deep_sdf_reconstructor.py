"""DeepSDFReconstructor: fit latent codes to shapes the decoder never saw, the decoder frozen.

The original's procedure, for one shape: code ~ N(0, 0.01^2), Adam for 800 iterations at lr 5e-3 divided
by 10 halfway, 8,000 fresh samples per iteration (half from `pos`, half from `neg`), loss = mean clamped L1
+ 1e-4 * mean(code^2).

Here many shapes are one batched problem: the codes are a (K, L) tensor, each iteration one decoder pass
over the K x 8,000 samples, and the loss is the sum of the per-shape losses. Adam is element-wise and the
shapes share nothing, so each code follows exactly the path it would follow alone; each shape draws its
samples from its own seeded generator, so the batched result equals the one-at-a-time result up to
floating point (tested).

Samples may carry a free-space flag (shape completion from a depth view): a flagged point is only known to
be outside, and costs max(0, -clamp(prediction)).
"""
from dataclasses import dataclass

import torch

from . import cpu_memory
from .losses import clamped_l1_sum


@dataclass
class ShapeSamples:
    """Samples of one shape. xyz (N, 3), sdf (N, 1), free (N,) bool or None (free-space points)."""
    xyz: torch.Tensor
    sdf: torch.Tensor
    free: torch.Tensor = None
    pos_rows: torch.Tensor = None  # rows drawn as the "pos" half
    neg_rows: torch.Tensor = None  # rows drawn as the "neg" half

    @classmethod
    def from_pos_neg(cls, pos, neg):
        """From DeepSDF's `pos`/`neg` arrays (N x 4)."""
        pos, neg = torch.as_tensor(pos, dtype=torch.float32), torch.as_tensor(neg, dtype=torch.float32)
        allr = torch.cat([pos, neg])
        return cls(allr[:, :3], allr[:, 3:], None, torch.arange(len(pos)), torch.arange(len(pos), len(allr)))

    def to(self, device):
        f = lambda t: None if t is None else t.to(device)
        return ShapeSamples(f(self.xyz), f(self.sdf), f(self.free), f(self.pos_rows), f(self.neg_rows))


class DeepSDFReconstructor:
    def __init__(self, decoder, latent_size, iterations=800, lr=5e-3, lr_drop=10.0, samples_per_iteration=8000,
                 clamp=0.1, code_std=0.01, code_reg=1e-4, seed=0, device=None, progress=False):
        self.decoder = decoder.eval()
        for p in self.decoder.parameters():
            p.requires_grad_(False)
        self.latent_size = latent_size
        self.iterations, self.lr, self.lr_drop = iterations, lr, lr_drop
        self.samples = samples_per_iteration
        self.clamp, self.code_std, self.code_reg = clamp, code_std, code_reg
        self.seed = seed
        self.device = torch.device(device) if device else next(decoder.parameters()).device
        if self.device.type == "cpu":
            cpu_memory.keep_freed_memory()  # reuse freed pages instead of faulting them in every iteration
        self.progress = progress

    def _draw(self, shape, gen):
        """Row indices (S,) for one iteration: half from pos rows and half from neg rows, with replacement."""
        half = self.samples // 2
        if shape.pos_rows is None:  # unsplit samples: uniform over all rows
            n = len(shape.xyz)
            return (torch.rand(self.samples, device=self.device, generator=gen) * n).long().clamp_max(n - 1)
        up = torch.rand(half, device=self.device, generator=gen)
        un = torch.rand(self.samples - half, device=self.device, generator=gen)
        rp = shape.pos_rows[(up * len(shape.pos_rows)).long().clamp_max(len(shape.pos_rows) - 1)]
        rn = shape.neg_rows[(un * len(shape.neg_rows)).long().clamp_max(len(shape.neg_rows) - 1)]
        return torch.cat([rp, rn])

    def reconstruct(self, shapes, shape_seeds=None, return_losses=False):
        """Fit one code per shape, all at once.

        shapes: [ShapeSamples]; shape_seeds: one int per shape (default: seed + index), which fixes that
        shape's initial code and sample draws whatever batch it is in. Returns codes (K, L) and, if asked,
        the per-shape loss of the last iteration (K,).
        """
        K, S, L = len(shapes), self.samples, self.latent_size
        if K == 0:
            return torch.zeros(0, L)
        shapes = [s.to(self.device) for s in shapes]
        seeds = shape_seeds if shape_seeds is not None else [self.seed + i for i in range(K)]
        gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
        # initial codes ~ N(0, code_std^2), each from its shape's generator
        codes = torch.stack([torch.randn(L, device=self.device, generator=g) * self.code_std for g in gens])
        codes.requires_grad_(True)  # (K, L)
        opt = torch.optim.Adam([codes], lr=self.lr)
        drop_every = max(1, self.iterations // 2)
        it = range(self.iterations)
        if self.progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"reconstructing {K} shape(s)", unit="it", leave=False, mininterval=1.0)
        per_shape = torch.zeros(K, device=self.device)
        for i in it:
            for group in opt.param_groups:
                group["lr"] = self.lr / self.lr_drop ** (i // drop_every)
            rows = [self._draw(s, g) for s, g in zip(shapes, gens)]
            xyz = torch.cat([s.xyz[r] for s, r in zip(shapes, rows)])  # (K*S, 3)
            sdf = torch.cat([s.sdf[r] for s, r in zip(shapes, rows)])  # (K*S, 1)
            opt.zero_grad(set_to_none=True)
            pred = self.decoder(codes.repeat_interleave(S, dim=0), xyz)  # (K*S, 1)
            err = self._errors(pred, sdf, shapes, rows)  # (K, S)
            per_shape = err.mean(dim=1) + self.code_reg * codes.pow(2).mean(dim=1)  # (K,): the original's loss
            per_shape.sum().backward()
            opt.step()
        codes = codes.detach()
        return (codes, per_shape.detach()) if return_losses else codes

    def _errors(self, pred, sdf, shapes, rows):
        K, S = len(shapes), self.samples
        c = self.clamp
        pc = pred.clamp(-c, c)
        err = (pc - sdf.clamp(-c, c)).abs().reshape(K, S)
        if any(s.free is not None for s in shapes):
            free = torch.cat([s.free[r] if s.free is not None else torch.zeros(len(r), dtype=torch.bool,
                                                                                  device=self.device)
                              for s, r in zip(shapes, rows)]).reshape(K, S)
            err = torch.where(free, torch.relu(-pc).reshape(K, S), err)
        return err

    @torch.no_grad()
    def sdf_error(self, codes, shapes, samples=None):
        """Mean clamped L1 of each code on all of its shape's samples (free-space points excluded): (K,)."""
        out = []
        for code, s in zip(codes, shapes):
            s = s.to(self.device)
            pred = self.decoder(code.to(self.device).expand(len(s.xyz), -1), s.xyz)
            keep = slice(None) if s.free is None else ~s.free
            out.append(clamped_l1_sum(pred[keep], s.sdf[keep], self.clamp) / int(len(pred[keep])))
        return torch.stack(out)
