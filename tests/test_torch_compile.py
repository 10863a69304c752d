"""utils/torch_compile.py: --compile falls back to eager, with one line saying why, when it cannot compile."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch._dynamo.exc import BackendCompilerFailed

import utils.torch_compile as tc

CPU = torch.device("cpu")


@pytest.fixture
def no_cxx():
    """Inductor's C++ compiler search pointed at a compiler that does not exist, as on a machine without one.

    Through inductor's own config.patch, which saves and restores the key itself: pytest's monkeypatch on the config
    proxy failed with 'has no attribute cxx' in a full run of a plain clone. Tests list it after their skip fixtures."""
    from torch._inductor import config

    with config.patch({"cpp.cxx": ("/nonexistent/bin/c++",)}):
        yield


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU()).eval()


def test_missing_compiler_runs_eager_with_one_line(no_cxx, log_lines):
    m = _model()
    x = torch.rand(1, 3, 8, 8)
    fn = tc.compile_fn(m, CPU, "val: ")
    assert fn is m
    assert log_lines == ["val: WARNING ⚠️ --compile: no C++ compiler found (install g++ or clang++, or point CXX at one), "
                         "running eager"]
    assert torch.equal(fn(x), m(x))


def test_compiler_failure_at_first_call_switches_to_eager(monkeypatch, log_lines):
    """A backend error while compiling (inductor fails on the first call) gives one line and the eager result."""
    def failing_compile(fn):
        def run(*args, **kwargs):
            raise BackendCompilerFailed(fn, RuntimeError("C++ compile error"), None)
        return run

    monkeypatch.setattr(tc, "missing_toolchain", lambda device: None)
    monkeypatch.setattr(torch, "compile", failing_compile)
    m = _model()
    x = torch.rand(2, 3, 8, 8)
    fn = tc.compile_fn(m, CPU, "train: ")
    assert torch.equal(fn(x), m(x)) and torch.equal(fn(x), m(x))
    assert log_lines == ["train: WARNING ⚠️ --compile failed (RuntimeError), running eager"]


def test_backend_other_formats_left_alone(log_lines):
    class Backend:
        pt = False

    tc.compile_backend(Backend(), CPU, "detect: ")
    assert log_lines == ["detect: WARNING ⚠️ --compile applies to PyTorch weights only, ignored"]


def test_val_compile_without_toolchain_same_numbers(yolov5n_pt, no_cxx, log_lines, tmp_path):
    """val.py --compile on a machine without a compiler: the message, then exactly the eager metrics."""
    import val

    kw = dict(data="data/coco8.yaml", weights=str(yolov5n_pt), batch_size=4, imgsz=64, plots=False,
              project=tmp_path, workers=0)
    eager = val.run(**kw)[0]
    compiled = val.run(**kw, compile=True)[0]
    assert eager == compiled
    assert sum("--compile: no C++ compiler found" in line for line in log_lines) == 1
