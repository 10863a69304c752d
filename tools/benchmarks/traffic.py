"""Memory traffic of a forward pass: the bytes each operator reads and writes, a lower bound of what a CPU moves.

On a machine whose cores are starved for memory bandwidth, time follows this figure more than FLOPs: it is why a model
with 0.70x the FLOPs of another need not run in 0.70x the time.
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def _moves_nothing(func) -> bool:
    """A view (its result aliases an input it does not write: view, slice, transpose...) or an allocation."""
    allocation = func.overloadpacket.__name__ in ("empty", "empty_like", "empty_strided", "new_empty")
    return allocation or any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


def _nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tree_leaves(tensors) if isinstance(t, torch.Tensor))


class TrafficCounter(TorchDispatchMode):
    """Sums, per operator, the bytes of its tensor inputs (read) and outputs (written); views count nothing, an
    in-place operator both reads and writes its tensor, an `out=` tensor is only written; allocations count
    nothing."""

    def __init__(self):
        super().__init__()
        self.bytes: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not _moves_nothing(func):
            read = _nbytes((args, {k: v for k, v in kwargs.items() if k != "out"}))
            self.bytes[func.overloadpacket.__name__] += read + _nbytes(out)
        return out


@torch.no_grad()
def megabytes_moved(model: nn.Module, x: torch.Tensor) -> tuple[float, Counter[str]]:
    """(MB read and written by one forward of x, MB per operator name)."""
    with TrafficCounter() as counter:
        model(x)
    return sum(counter.bytes.values()) / 1e6, Counter({k: v / 1e6 for k, v in counter.bytes.items()})
