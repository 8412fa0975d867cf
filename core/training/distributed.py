"""Distributed data-parallel training, torchrun-compatible.

Why torchrun's environment: ``torchrun --nproc_per_node N -m core train ...`` (or several nodes) sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; :func:`init_from_env` reads them and joins the process
group (NCCL on GPUs, gloo on CPUs). Each rank trains on its DistributedSampler shard, DistributedDataParallel
averages the gradients, so all ranks hold identical parameters after every step. Without those variables
everything here is a no-op and training runs in one process.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def init_from_env(*, backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment; False when not launched by torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if dist.is_initialized():
        return True
    use_cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def device_for_rank() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0)
    return torch.device("cpu")


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when distributed (parameters broadcast from rank 0)."""
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def train_sampler(dataset, *, seed: int, generator: torch.Generator | None = None, weights=None):
    """DistributedSampler when distributed; else a seeded WeightedRandomSampler (class-balanced) or shuffle."""
    if is_distributed():
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(dataset, shuffle=True, seed=seed, drop_last=False)
    if weights is not None:
        from torch.utils.data import WeightedRandomSampler

        return WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)
    from torch.utils.data import RandomSampler

    return RandomSampler(dataset, generator=generator)


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (so every rank takes the same early-stopping decision)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
