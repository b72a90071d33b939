"""Data-parallel training with PyTorch's own engine: torchrun's environment, one process per device.

``torchrun --nproc_per_node N -m model_tools train ...`` starts N copies of ``train`` with RANK,
LOCAL_RANK and WORLD_SIZE set (and the rendezvous variables for several machines). Each process joins
the group (gloo on CPU, nccl on GPUs), trains a DistributedDataParallel replica on its shard of every
epoch (DistributedSampler) and evaluates its slice of the validation images; the slices' predictions
and losses are gathered so every rank sees the same metrics and keeps the same best step. Rank 0
alone writes the run folder. Without torchrun's variables this is a single process and changes nothing.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: How long a rank waits for the others (rendezvous, collectives) before failing with a clear error.
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the run: rank 0 of 1 when not started by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """In a process group: more than one process, or one that joined a group of its own (the data-parallel
        code path with a single replica, which must compute what the plain single process does)."""
        return self.world_size > 1 or self.backend is not None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name}={value!r}: torchrun sets it to an integer") from None


def join(device_type: str) -> ProcessGroup:
    """Join torchrun's process group if WORLD_SIZE > 1 (gloo for CPU, nccl for CUDA), else stay single."""
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return ProcessGroup()
    import torch.distributed as dist

    backend = "nccl" if device_type == "cuda" else "gloo"
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=TIMEOUT)
    log.info("rank %d of %d (local rank %d), backend %s", rank, world_size, local_rank, backend)
    return ProcessGroup(rank, world_size, local_rank, backend)


def leave(group: ProcessGroup) -> None:
    """Leave the process group (after every rank is done).

    Garbage is collected first, so that no DDP wrapper left in a reference cycle is freed only after the
    group, at interpreter exit (where a rank has been seen to end with std::terminate).
    """
    if group.distributed:
        import gc

        import torch.distributed as dist

        gc.collect()
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def shard(count: int, group: ProcessGroup) -> slice:
    """This rank's contiguous slice of ``count`` items (the first ranks take one more when uneven)."""
    base, extra = divmod(count, group.world_size)
    start = group.rank * base + min(group.rank, extra)
    return slice(start, start + base + (1 if group.rank < extra else 0))


def sum_across(group: ProcessGroup, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over every rank (float64, so the order of ranks barely matters)."""
    if not group.distributed:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    if group.backend == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def gather_in_rank_order(group: ProcessGroup, part: np.ndarray) -> np.ndarray:
    """Concatenate every rank's ``part`` in rank order (with :func:`shard`, the original order)."""
    if not group.distributed:
        return part
    import torch.distributed as dist

    parts: list[Any] = [None] * group.world_size
    dist.all_gather_object(parts, part)
    return np.concatenate(parts)


def barrier(group: ProcessGroup) -> None:
    if group.distributed:
        import torch.distributed as dist

        dist.barrier()
