"""Counter-based uniform random numbers: u = hash(key, step, index), vectorised over many keys.

A torch.Generator is one stream, so K shapes with K generators need K separate calls (K kernel launches
on a GPU) for every draw. Here the number for (key k, step i, position j) is a fixed function of the three
integers (the idea of counter-based generators such as Philox; Salmon et al., SC 2011), computed for all
keys at once with integer tensor ops. A shape's draws are then the same whichever batch it is in, and a
batch of K shapes costs the same handful of ops as one shape.

The mixing function is Wellons' 32-bit "lowbias32" integer hash (two xor-shift-multiply rounds, a
bijection of the 32-bit integers), applied twice: once to the counter, once to that xor the key.
"""
import torch

_M32 = 0xFFFFFFFF


def hash32(x):
    """lowbias32 of int64 values in [0, 2^32): a bijection of [0, 2^32). Products stay below 2^63."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def keys_from_seeds(seeds, device=None):
    """(K,) int64 keys from integer seeds (any Python ints)."""
    s = torch.tensor([int(v) & _M32 for v in seeds], dtype=torch.int64, device=device)
    return hash32(s ^ 0x9E3779B9)


def uniform(keys, step, n):
    """(K, n) float32 in [0, 1): position j of step `step` for each key. keys: (K,) int64 from keys_from_seeds.

    The counter of position j is step * n + j (mod 2^32), so steps of the same width n never overlap before
    2^32 / n steps."""
    j = torch.arange(n, dtype=torch.int64, device=keys.device)
    counter = hash32((j + int(step) * n) & _M32)  # (n,)
    x = hash32(counter[None, :] ^ keys[:, None])  # (K, n), 32 random bits each
    return (x >> 8).to(torch.float32) * (1.0 / (1 << 24))  # top 24 bits: exact in float32, below 1
