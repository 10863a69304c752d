"""LR schedule: linear and cosine decay end points, and the warmup ramp of LR, bias LR and momentum."""

from __future__ import annotations

import pytest
import torch

from utils.training.lr_schedule import apply_warmup, lr_lambda, one_cycle, warmup_iterations

HYP = {"warmup_epochs": 3.0, "warmup_bias_lr": 0.1, "warmup_momentum": 0.8, "momentum": 0.937}


@pytest.mark.parametrize("cos", [False, True])
def test_schedule_runs_from_one_to_lrf(cos):
    f = lr_lambda(epochs=10, lrf=0.01, cos=cos)
    assert f(0) == pytest.approx(1.0)
    assert f(10) == pytest.approx(0.01)
    assert all(f(e) > f(e + 1) for e in range(10))


def test_linear_and_cosine_differ_midway():
    assert lr_lambda(10, 0.01)(5) == pytest.approx(0.505)
    assert one_cycle(1, 0.01, 10)(5) == pytest.approx(0.505)  # both cross the midpoint together
    assert lr_lambda(10, 0.01)(2) != pytest.approx(lr_lambda(10, 0.01, cos=True)(2))


def test_warmup_length_has_a_floor_of_100_iterations():
    assert warmup_iterations(HYP, batches_per_epoch=8) == 100
    assert warmup_iterations(HYP, batches_per_epoch=1000) == 3000


def _optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.SGD([params[0]], lr=0.01, momentum=0.937, nesterov=True)
    for p in params[1:]:
        opt.add_param_group({"params": [p]})
    torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda e: 1.0)  # sets initial_lr as training does
    return opt


def test_warmup_starts_bias_high_weights_at_zero_and_ends_at_schedule():
    opt = _optimizer()
    acc = apply_warmup(opt, ni=0, nw=100, lr_factor=1.0, hyp=HYP, nominal_batch=64, batch_size=16)
    assert acc == 1
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.0, 0.0])
    assert opt.param_groups[1]["momentum"] == pytest.approx(0.8)
    acc = apply_warmup(opt, ni=100, nw=100, lr_factor=0.5, hyp=HYP, nominal_batch=64, batch_size=16)
    assert acc == 4  # 64 / 16 batches summed per step once warmed up
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.005] * 3)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.937)
