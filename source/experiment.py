"""A trained experiment in memory, for notebooks and reports: decoder, codes, log, meshes of codes."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, paths
from .deep_sdf import Decoder
from .meshing import decoder_field, extract_mesh


@dataclass
class Experiment:
    folder: Path
    specs: dict
    decoder: Decoder
    codes: torch.Tensor  # (S, L) training codes
    scenes: list  # [(dataset, class, instance)], row i of codes
    epoch: int

    @classmethod
    def load(cls, folder, checkpoint="latest", device="cpu"):
        folder = Path(folder)
        state, specs, epoch = checkpoints.load_model(folder, checkpoint, map_location=device)
        decoder = Decoder.from_specs(specs)
        decoder.load_state_dict(state)
        codes, scenes, _ = checkpoints.load_codes(folder, checkpoint, map_location=device)
        return cls(folder, specs, decoder.to(device).eval(), codes, scenes, epoch)

    def log(self):
        with open(self.folder / paths.LOGS_CSV) as f:
            return list(csv.DictReader(f))

    def mesh(self, code, resolution=96):
        """Mesh (V, F) of a code in the normalised frame."""
        return extract_mesh(decoder_field(self.decoder, code), resolution)

    def interpolation(self, a, b, steps=5, resolution=64):
        """Meshes along the straight line between training codes a and b (indices or scenes)."""
        ia = a if isinstance(a, int) else self.scenes.index(tuple(a))
        ib = b if isinstance(b, int) else self.scenes.index(tuple(b))
        ts = np.linspace(0.0, 1.0, steps)
        return ts, [self.mesh((1 - t) * self.codes[ia] + t * self.codes[ib], resolution) for t in ts]
