"""Opt-in torch.compile for train.py, val.py and detect.py (--compile): compile time reported, eager when it can't."""

from __future__ import annotations

import time
from typing import Callable

import torch

from utils.logger import LOGGER


def missing_toolchain(device: torch.device) -> str | None:
    """What torch.compile's default backend (inductor) lacks to compile for device, or None when nothing is missing."""
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "Triton is not installed (pip install triton)"
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:  # inductor raises its own InvalidCxxCompiler; an import failure means the same here
        return "no C++ compiler found (install g++ or clang++, or point CXX at one)"
    return None


class CompiledForward:
    """fn through torch.compile: the first call, where compilation happens, is timed and logged; a compiler failure
    logs one line and runs fn eagerly from then on."""

    def __init__(self, fn: Callable, prefix: str):
        self.eager, self.compiled, self.prefix, self.first = fn, torch.compile(fn), prefix, True

    def __call__(self, *args, **kwargs):
        from torch._dynamo.exc import BackendCompilerFailed

        if self.compiled is None:
            return self.eager(*args, **kwargs)
        t = time.perf_counter()
        try:
            y = self.compiled(*args, **kwargs)
        except BackendCompilerFailed as e:
            LOGGER.warning(f"{self.prefix}WARNING ⚠️ --compile failed ({type(e.inner_exception).__name__}), "
                           f"running eager")
            self.compiled = None
            return self.eager(*args, **kwargs)
        if self.first:
            self.first = False
            LOGGER.info(f"{self.prefix}torch.compile: first call (compilation) took {time.perf_counter() - t:.1f}s")
        return y


def compile_fn(fn: Callable, device: torch.device, prefix: str = "") -> Callable:
    """fn compiled with torch.compile when the toolchain is there; otherwise fn itself, after one line saying why."""
    missing = missing_toolchain(device)
    if missing:
        LOGGER.warning(f"{prefix}WARNING ⚠️ --compile: {missing}, running eager")
        return fn
    return CompiledForward(fn, prefix)


def compile_backend(backend, device: torch.device, prefix: str) -> None:
    """--compile for val.py and detect.py: a DetectMultiBackend's PyTorch model runs compiled from here on (the model
    is only run, never saved, afterwards); other formats are left as they are, with one line saying so."""
    if not backend.pt:
        LOGGER.warning(f"{prefix}WARNING ⚠️ --compile applies to PyTorch weights only, ignored")
        return
    fn = compile_fn(backend.model.forward, device, prefix)
    if isinstance(fn, CompiledForward):
        backend.model.forward = fn
