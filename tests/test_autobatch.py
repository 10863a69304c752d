"""AutoBatch: the default on CPU, and the memory-model fit that picks the CUDA batch size."""

from __future__ import annotations

import torch.nn as nn

from utils.training.autobatch import autobatch, check_train_batch_size, fit_batch_size


def test_cpu_model_gets_the_default_batch_size(caplog):
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert autobatch(model, imgsz=64, batch_size=16) == 16
    assert check_train_batch_size(model, imgsz=64, amp=True) == 16  # AMP is off on CPU, no autocast error


def test_linear_fit_solves_for_the_memory_budget():
    sizes = [1, 2, 4, 8, 16]
    mems = [0.5 + 0.25 * b for b in sizes]
    b, used = fit_batch_size(sizes, mems, budget=4.6, default=16)  # floor: never above the budget
    assert b == 16 and abs(used - 4.5) < 1e-6
    b, _ = fit_batch_size(sizes, mems, budget=8.6, default=16)
    assert b == 32


def test_fit_never_passes_a_size_that_ran_out_of_memory():
    sizes = [1, 2, 4, 8, 16]
    mems = [0.5 + 0.25 * b for b in sizes[:4]] + [None]
    b, _ = fit_batch_size(sizes, mems, budget=100.0, default=16)
    assert b == 8


def test_nonsense_probes_fall_back_to_the_default():
    sizes = [1, 2, 4, 8, 16]
    assert fit_batch_size(sizes, [4.0, 3.0, 2.0, 1.0, 0.5], budget=8.0, default=16) == (16, 0.0)
    assert fit_batch_size(sizes, [1.0, None, None, None, None], budget=8.0, default=16) == (16, 0.0)
    assert fit_batch_size(sizes, [0.1 * b for b in sizes], budget=0.01, default=16) == (16, 0.0)
