"""The distillation teacher's runners: ONNX Runtime gives eager PyTorch's numbers at any shape; a failed export falls
back to PyTorch in one line, and so does one that fails mid-training (yolov5n.pt, 64-96 px)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from models.loading import attempt_load
from tests.conftest import shared_path
from utils.logger import colorstr
from engine.teacher_runtime import eager_runner, onnx_runner, teacher_runner


@pytest.fixture(scope="module")
def teacher() -> nn.Module:
    """yolov5n.pt fused and frozen, as load_teacher gives on CPU (trained weights: a random yolov5n's Detect inputs
    are all but zero, so no tolerance would tell)."""
    return attempt_load(shared_path("weights/yolov5n.pt"), fuse=True).requires_grad_(False)


def test_onnx_teacher_gives_eager_outputs_at_other_batches_and_shapes(teacher):
    fast, eager = onnx_runner(teacher), eager_runner(teacher)
    for shape in ((2, 3, 64, 64), (3, 3, 96, 64)):  # one graph for every batch, height and width
        imgs = torch.rand(shape, generator=torch.Generator().manual_seed(shape[0]))
        (maps, feats), (maps_e, feats_e) = fast(imgs), eager(imgs)
        b, _, h, w = shape
        assert [x.shape for x in maps] == [x.shape for x in maps_e] and maps[0].shape[:4] == (b, 3, h // 8, w // 8)
        assert [x.shape for x in feats] == [x.shape for x in feats_e] and feats[2].shape[2:] == (h // 32, w // 32)
        assert min(x.abs().max().item() for x in feats) > 1  # numbers a tolerance can tell apart
        for x, y in zip(maps + feats, maps_e + feats_e):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
    assert not teacher.model[-1].training  # the head is raw only while the teacher runs


def test_failed_export_falls_back_to_eager_teacher_in_one_line(teacher, monkeypatch, log_lines):
    def no_export(*args, **kwargs):
        raise RuntimeError("unsupported operator\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    imgs = torch.rand(1, 3, 64, 64)
    maps, feats = teacher_runner(teacher)(imgs)
    maps_e, feats_e = eager_runner(teacher)(imgs)
    assert all(torch.equal(a, b) for a, b in zip(maps + feats, maps_e + feats_e))
    assert [line for line in log_lines if "ONNX" in line] == [
        f"{colorstr('teacher: ')}ONNX Runtime unavailable (RuntimeError: unsupported operator), running it in PyTorch"]


def test_runtime_failure_mid_training_falls_back_to_eager_teacher_once(teacher, monkeypatch, log_lines):
    import engine.teacher_runtime as runtime

    calls = []

    def failing(imgs: torch.Tensor):
        calls.append(imgs.shape)
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : shape")

    monkeypatch.setattr(runtime, "onnx_runner", lambda t: failing)
    run, imgs = teacher_runner(teacher), torch.rand(1, 3, 64, 64)
    for _ in range(2):  # the second step goes straight to the eager teacher
        maps, feats = run(imgs)
    maps_e, feats_e = eager_runner(teacher)(imgs)
    assert len(calls) == 1 and all(torch.equal(a, b) for a, b in zip(maps + feats, maps_e + feats_e))
    assert [line for line in log_lines if "ONNX" in line] == [
        f"{colorstr('teacher: ')}ONNX Runtime failed (RuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : "
        f"shape), running it in PyTorch"]
