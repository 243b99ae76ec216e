"""DeepSDFReconstructor: fit latent codes to shapes the decoder never saw, the decoder frozen.

The original's procedure, for one shape: code ~ N(0, 0.01^2), Adam for 800 iterations at lr 5e-3 divided
by 10 halfway, 8,000 fresh samples per iteration (half from `pos`, half from `neg`), loss = mean clamped L1
+ 1e-4 * mean(code^2).

Here many shapes are one batched problem: the codes are a (K, L) tensor, each iteration one decoder pass
over the K x 8,000 samples, and the loss is the sum of the per-shape losses. Adam is element-wise and the
shapes share nothing, so each code follows exactly the path it would follow alone. The samples of all
shapes sit in one pool and each iteration's rows are drawn for all shapes at once from counter-based
random numbers (source/counter_random.py: a fixed function of the shape's seed, the iteration and the
position), so a shape draws the same rows whatever batch it is in, and the batched result equals the
one-at-a-time result up to floating point (tested), in a number of tensor ops that does not grow with K.

Samples may carry a free-space flag (shape completion from a depth view): a flagged point is only known to
be outside, and costs max(0, -clamp(prediction)).
"""
from dataclasses import dataclass

import torch

from . import counter_random, cpu_memory
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
                 clamp=0.1, code_std=0.01, code_reg=1e-4, seed=0, device=None, progress=False,
                 samples_per_pass=None):
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
        # samples per decoder pass (whole shapes): on a CPU the activations of a few shapes stay in cache
        # (docs/benchmarks.md); a GPU wants large passes
        self.samples_per_pass = samples_per_pass or (2**20 if self.device.type == "cuda" else 2**15)

    def reconstruct(self, shapes, shape_seeds=None, return_losses=False):
        """Fit one code per shape, all at once.

        shapes: [ShapeSamples]; shape_seeds: one int per shape (default: seed + index), which fixes that
        shape's initial code and sample draws whatever batch it is in. Returns codes (K, L) and, if asked,
        the per-shape loss of the last iteration (K,).
        """
        K, S, L = len(shapes), self.samples, self.latent_size
        if K == 0:
            return torch.zeros(0, L)
        pool = _SamplePool(shapes, self.device)
        per_pass = max(1, self.samples_per_pass // S)  # shapes per decoder pass
        seeds = shape_seeds if shape_seeds is not None else [self.seed + i for i in range(K)]
        keys = counter_random.keys_from_seeds(seeds, self.device)  # (K,): the shapes' sample streams
        # initial codes ~ N(0, code_std^2), each from its shape's own seeded generator
        gens = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]
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
            rows = pool.draw(counter_random.uniform(keys, i, S))  # (K, S) rows of the pool
            opt.zero_grad(set_to_none=True)
            losses = []
            # the decoder pass in groups of whole shapes: each shape's loss and gradient are its own, so the
            # grouping changes nothing but the size of the tensors (cache-sized on a CPU, large on a GPU)
            for k0 in range(0, K, per_pass):
                r = rows[k0:k0 + per_pass]  # (k, S)
                k, flat = len(r), r.reshape(-1)
                xyz, sdf = pool.xyz[flat], pool.sdf[flat]  # (k*S, 3), (k*S, 1)
                free = None if pool.free is None else pool.free[r]  # (k, S)
                c = codes[k0:k0 + k]  # (k, L)
                pred = self.decoder(c[:, None, :].expand(k, S, L).reshape(k * S, L), xyz)  # (k*S, 1)
                err = self._errors(pred, sdf, free, k)  # (k, S)
                loss = err.mean(dim=1) + self.code_reg * c.pow(2).mean(dim=1)  # (k,): the original's loss
                loss.sum().backward()
                losses.append(loss.detach())
            per_shape = torch.cat(losses)
            opt.step()
        codes = codes.detach()
        return (codes, per_shape.detach()) if return_losses else codes

    def _errors(self, pred, sdf, free, K):
        """Per-sample cost (K, S): clamped L1, or for free-space points max(0, -clamp(pred))."""
        c = self.clamp
        pc = pred.clamp(-c, c)
        err = (pc - sdf.clamp(-c, c)).abs().reshape(K, -1)
        if free is not None:
            err = torch.where(free, torch.relu(-pc).reshape(K, -1), err)
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


class _SamplePool:
    """The samples of K shapes in one set of tensors, with each shape's two halves as ranges of an index
    table: rows drawn for all shapes at once. A shape with `pos`/`neg` rows draws half its samples from
    each, as the original does; a shape without (a depth view) draws uniformly from all its rows (both
    halves index all of them)."""

    def __init__(self, shapes, device):
        offset, pos_idx, neg_idx = 0, [], []
        for s in shapes:
            n = len(s.xyz)
            every = torch.arange(n)
            pos = every if s.pos_rows is None else s.pos_rows.cpu()
            neg = every if s.neg_rows is None else s.neg_rows.cpu()
            if len(pos) == 0 or len(neg) == 0:
                raise ValueError("a shape to reconstruct has no samples on one side of its surface")
            pos_idx.append(pos + offset)
            neg_idx.append(neg + offset)
            offset += n
        self.xyz = torch.cat([s.xyz.cpu() for s in shapes]).to(device)  # (T, 3)
        self.sdf = torch.cat([s.sdf.cpu() for s in shapes]).to(device)  # (T, 1)
        self.free = None
        if any(s.free is not None for s in shapes):
            self.free = torch.cat([torch.zeros(len(s.xyz), dtype=torch.bool) if s.free is None else s.free.cpu()
                                   for s in shapes]).to(device)  # (T,)
        self.pos_idx, self.pos_start, self.pos_count = _ranges(pos_idx, device)
        self.neg_idx, self.neg_start, self.neg_count = _ranges(neg_idx, device)

    def draw(self, u):
        """u: (K, S) uniform in [0, 1) -> (K, S) pool rows: the first S // 2 from each shape's pos half."""
        half = u.shape[1] // 2
        return torch.cat([_pick(self.pos_idx, self.pos_start, self.pos_count, u[:, :half]),
                          _pick(self.neg_idx, self.neg_start, self.neg_count, u[:, half:])], dim=1)


def _ranges(index_lists, device):
    counts = torch.tensor([len(x) for x in index_lists])
    return torch.cat(index_lists).to(device), (torch.cumsum(counts, 0) - counts).to(device), counts.to(device)


def _pick(index, start, count, u):
    """index[start_k + floor(u * count_k)] for each row k of u (K, m)."""
    k = torch.minimum((u * count[:, None]).long(), count[:, None] - 1)
    return index[start[:, None] + k]
