"""One code path for one process and for `torchrun --nproc_per_node=N` (DDP).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them this is a single process of world size 1.
Backend: NCCL when each rank has a GPU, gloo otherwise (so several CPU processes work too).
"""
import os

import torch
import torch.distributed as dist


def init(device=None):
    """Returns (rank, world_size, device). Starts the process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return rank, world, device


def active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t):
    """Sum a tensor over ranks in place (no-op in a single process). Returns it."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier():
    if active():
        dist.barrier()


def shutdown():
    """Leave the process group. All ranks meet first: gloo aborts a process ("terminate called without an
    active exception") that tears its group down while another rank is still talking to it."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()
