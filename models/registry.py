"""The blocks a model YAML may name: each block registers itself, and says how parse_model passes its arguments."""

from __future__ import annotations

from typing import Callable, TypeVar

import torch.nn as nn

M = TypeVar("M", bound=type[nn.Module])

MODULES: dict[str, type[nn.Module]] = {}  # every name a model YAML may use for a module; nothing else is looked up
CHANNEL_MODULES: set[type[nn.Module]] = set()  # (c1, c2, ...): c2 is the first YAML argument, scaled by width
REPEAT_MODULES: set[type[nn.Module]] = set()  # (c1, c2, n, ...): take the repeat count instead of being stacked


def yaml_block(channels: bool = False, repeat: bool = False) -> Callable[[M], M]:
    """Class decorator: make a block usable by name in model YAMLs, so that adding one touches only its own class."""
    if repeat and not channels:
        raise ValueError("a block that takes the repeat count also takes channel arguments (c1, c2, n, ...)")

    def register(cls: M) -> M:
        MODULES[cls.__name__] = cls
        if channels:
            CHANNEL_MODULES.add(cls)
        if repeat:
            REPEAT_MODULES.add(cls)
        return cls
    return register
