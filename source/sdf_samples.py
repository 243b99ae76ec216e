"""SDFSamples: every scene's `pos`/`neg` samples read once and kept in memory, batches drawn by index.

The original re-reads 64 `.npz` files from disk for every batch. Here the samples of all scenes sit in two
float32 tensors (all `pos` rows, then all `neg` rows), on the training device when it is a GPU, and a batch
is a gather at random row indices: no file is read after start-up.

Memory: 16 bytes per sample (x, y, z, sdf as float32), so 8 MB per scene for DeepSDF's 500,000 samples
(about 3,000 scenes in 24 GB, 10,000 in 80 GB), plus 16 bytes per scene of offsets.
"""
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import paths


class SampleFileError(ValueError):
    """A sample file that cannot be used; the message names the file and the problem."""


def read_sdf_npz(path):
    """(pos, neg) float32 arrays (N, 4) from a DeepSDF sample file, rows with NaN dropped as the original does."""
    path = Path(path)
    if not path.exists():
        raise SampleFileError(f"{path}: no such sample file (run sample_points.py for this dataset first)")
    try:
        with np.load(path) as f:
            if "pos" not in f or "neg" not in f:
                raise SampleFileError(f"{path}: has no 'pos'/'neg' arrays (keys: {', '.join(f.files) or 'none'})")
            pos, neg = f["pos"], f["neg"]
    except SampleFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise SampleFileError(f"{path}: cannot be read as .npz ({e})") from None
    out = []
    for name, a in (("pos", pos), ("neg", neg)):
        if a.ndim != 2 or a.shape[1] != 4:
            raise SampleFileError(f"{path}: '{name}' must be N x 4 (x, y, z, sdf), got shape {a.shape}")
        a = a.astype(np.float32, copy=False)
        a = a[np.isfinite(a).all(axis=1)]
        if len(a) == 0:
            raise SampleFileError(f"{path}: '{name}' holds no finite sample")
        out.append(a)
    return out[0], out[1]


class SDFSamples:
    """All samples of a list of scenes, in memory.

    scenes: [(dataset, class, instance)], as source.splits.read_split returns; scene i has latent code i.
    device: where the samples live ("cuda" keeps them on the GPU next to the network).
    """

    def __init__(self, data_dir, scenes, device="cpu", progress=False):
        self.scenes = list(scenes)
        if not self.scenes:
            raise SampleFileError("the split lists no scene")
        pos_list, neg_list = [], []
        it = self.scenes
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="loading samples", unit="scene")
        for d, c, i in it:
            pos, neg = read_sdf_npz(paths.sdf_samples(data_dir, d, c, i))
            pos_list.append(pos)
            neg_list.append(neg)
        self.device = torch.device(device)
        counts_pos = torch.tensor([len(p) for p in pos_list])
        counts_neg = torch.tensor([len(n) for n in neg_list])
        # (S,) row offsets of each scene in the big tensors, and row counts
        self.pos_start = (torch.cumsum(counts_pos, 0) - counts_pos).to(self.device)
        self.neg_start = (torch.cumsum(counts_neg, 0) - counts_neg).to(self.device)
        self.pos_count = counts_pos.to(self.device)
        self.neg_count = counts_neg.to(self.device)
        self.pos = torch.from_numpy(np.concatenate(pos_list)).to(self.device)  # (sum Npos, 4)
        self.neg = torch.from_numpy(np.concatenate(neg_list)).to(self.device)  # (sum Nneg, 4)

    def __len__(self):
        return len(self.scenes)

    @property
    def nbytes(self):
        return self.pos.numel() * 4 + self.neg.numel() * 4

    def draw(self, scene_ids, samples_per_scene, generator=None, part=None):
        """Samples for a batch of scenes: half from `pos`, half from `neg`, uniformly with replacement
        (as the original draws them).

        scene_ids: (B,) long tensor. part: (lo, hi) keeps scenes lo..hi-1 of the batch only, after the
        random numbers of the whole batch are drawn (so each rank of a data-parallel run gets its share of
        exactly the batch one process would draw). Returns xyz (n, 3), sdf (n, 1), scene id per row (n,),
        rows grouped by scene: rows [b*S, (b+1)*S) belong to the b-th kept scene.
        """
        half = samples_per_scene // 2
        ids = scene_ids.to(self.device)
        b = len(ids)
        # (B, half) uniform in [0, 1) -> row indices inside each scene's block
        u_pos = torch.rand(b, half, device=self.device, generator=generator)
        u_neg = torch.rand(b, half, device=self.device, generator=generator)
        if part is not None:
            lo, hi = part
            ids, u_pos, u_neg = ids[lo:hi], u_pos[lo:hi], u_neg[lo:hi]
            b = len(ids)
        npos, nneg = self.pos_count[ids, None], self.neg_count[ids, None]  # (b, 1)
        rows_pos = self.pos_start[ids, None] + torch.minimum((u_pos * npos).long(), npos - 1)
        rows_neg = self.neg_start[ids, None] + torch.minimum((u_neg * nneg).long(), nneg - 1)
        batch = torch.cat([self.pos[rows_pos], self.neg[rows_neg]], dim=1)  # (b, S, 4)
        batch = batch.reshape(b * samples_per_scene, 4)
        scene = ids.repeat_interleave(samples_per_scene)
        return batch[:, :3], batch[:, 3:], scene
