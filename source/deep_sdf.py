"""The DeepSDF decoder: f(code, xyz) -> signed distance, an MLP with the input fed again at `latent_in`.

Same architecture and specs keys as the original (NetworkSpecs), with two fixes: the final tanh is there
only when `use_tanh` says so (the original applied it whatever the spec said), and the layers live in an
`nn.ModuleList`. `load_original_state_dict` reads weights saved by the original code.
"""
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm


class Decoder(nn.Module):
    def __init__(self, latent_size, dims=(512,) * 8, dropout=None, dropout_prob=0.0, norm_layers=(),
                 latent_in=(), weight_norm=False, xyz_in_all=False, use_tanh=False, latent_dropout=False):
        super().__init__()
        self.latent_size = latent_size
        dims = [latent_size + 3] + list(dims) + [1]  # dims[l]: width of the input of layer l
        self.num_layers = len(dims) - 1  # linear layers, the output layer included
        self.latent_in = set(latent_in)
        self.dropout = set(dropout or ())
        self.dropout_prob = dropout_prob
        self.norm_layers = set(norm_layers)
        self.weight_norm = weight_norm
        self.xyz_in_all = xyz_in_all
        self.use_tanh = use_tanh
        self.latent_dropout = latent_dropout

        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        for layer in range(self.num_layers):
            last = layer == self.num_layers - 1
            out_dim = dims[layer + 1]
            if layer + 1 in self.latent_in:
                out_dim -= dims[0]  # the next layer's input is [x, code, xyz]
            elif self.xyz_in_all and not last:
                out_dim -= 3  # the next layer's input is [x, xyz]
            if out_dim < 1:
                raise ValueError(f"layer {layer + 1} is {dims[layer + 1]} wide, too narrow for the skip input of "
                                 f"{dims[0] if layer + 1 in self.latent_in else 3}")
            lin = nn.Linear(dims[layer], out_dim)
            if weight_norm and layer in self.norm_layers:
                lin = _weight_norm(lin)
            self.layers.append(lin)
            use_ln = (not weight_norm) and layer in self.norm_layers and not last
            self.norms.append(nn.LayerNorm(out_dim) if use_ln else nn.Identity())

    @classmethod
    def from_specs(cls, specs):
        """Build from a resolved specs dict (source.specs.resolve)."""
        return cls(specs["CodeLength"], **specs["NetworkSpecs"])

    def forward(self, codes, xyz):
        """codes: (N, latent_size), xyz: (N, 3) -> sdf (N, 1)."""
        inp = torch.cat([codes, xyz], dim=1)  # (N, L + 3), code first as in the original
        x = inp
        if self.latent_dropout and self.training:
            x = torch.cat([F.dropout(codes, p=0.2, training=True), xyz], dim=1)
        for layer, (lin, norm) in enumerate(zip(self.layers, self.norms)):
            if layer in self.latent_in:
                x = torch.cat([x, inp], dim=1)  # skip connection: the full input again
            elif layer != 0 and self.xyz_in_all:
                x = torch.cat([x, xyz], dim=1)
            x = lin(x)
            if layer < self.num_layers - 1:  # hidden layer
                x = F.relu(norm(x), inplace=True)  # in place: neither addmm nor layer norm needs its output
                if layer in self.dropout and self.dropout_prob > 0:
                    x = F.dropout(x, p=self.dropout_prob, training=self.training)
        if self.use_tanh:
            x = torch.tanh(x)
        return x


def load_original_state_dict(decoder, state_dict):
    """Load a state dict saved by the original DeepSDF code (lin<i>.weight_g/_v, bn<i>, 'module.' prefix)
    or by this one. Returns the decoder."""
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.").removeprefix("_orig_mod.")
        m = re.fullmatch(r"lin(\d+)\.(weight_g|weight_v|weight|bias)", key)
        if m:
            i, name = m.groups()
            name = {"weight_g": "parametrizations.weight.original0",
                    "weight_v": "parametrizations.weight.original1"}.get(name, name)
            key = f"layers.{i}.{name}"
        m = re.fullmatch(r"bn(\d+)\.(weight|bias)", key)
        if m:
            key = f"norms.{m.group(1)}.{m.group(2)}"
        out[key] = value
    decoder.load_state_dict(out)
    return decoder
