"""This process's place in a DDP job, read from torchrun's environment when asked (not frozen when a module is imported,
so a launcher or a test that sets the variables later is seen)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist


def rank() -> int:
    """Global rank in the DDP job; -1 when not launched by torchrun."""
    return int(os.getenv("RANK", -1))


def local_rank() -> int:
    """Rank on this machine (the CUDA device index under DDP); -1 when not launched by torchrun."""
    return int(os.getenv("LOCAL_RANK", -1))


def world_size() -> int:
    """Number of processes in the DDP job; 1 when not launched by torchrun."""
    return int(os.getenv("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """True for the one process that logs, plots and saves: rank 0, or the only process."""
    return rank() in {-1, 0}


@contextmanager
def torch_distributed_zero_first(local_rank: int) -> Iterator[None]:
    """Let rank 0 do a job (dataset scan, download) first while other ranks wait for it."""
    if local_rank not in {-1, 0}:
        dist.barrier()
    yield
    if local_rank == 0:
        dist.barrier()
