"""LR schedule: linear and cosine decay end points, and the warmup ramp of LR, bias LR and momentum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from tests.conftest import golden
from utils.torch_utils import smart_optimizer
from utils.training.lr_schedule import (NOMINAL_BATCH, accumulation, apply_warmup, lr_lambda, one_cycle,
                                        warmup_iterations)

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


# --- YOLOv5 v7.0 golden numbers (../shared/golden/lr_schedule.json): train.py's schedule statements replayed ---


def _replay(hyp: dict, sc: dict) -> dict:
    """What train.py does to the optimizer over a run, with our functions, recorded like the golden file."""
    hyp = dict(hyp)
    accumulate, decay_scale = accumulation(sc["batch_size"])
    hyp["weight_decay"] *= decay_scale
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=True), nn.BatchNorm2d(4))
    optimizer = smart_optimizer(model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"])
    lf = lr_lambda(sc["epochs"], hyp["lrf"], sc["cos_lr"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
    scheduler.last_epoch = -1  # start_epoch - 1
    nb = sc["nb"]
    nw = warmup_iterations(hyp, nb)
    out = {"nw": nw, "weight_decay_scaled": [g["weight_decay"] for g in optimizer.param_groups],
           "initial_lr": [g["initial_lr"] for g in optimizer.param_groups],
           "lf_per_epoch": [lf(e) for e in range(sc["epochs"])], "epoch_end_lr": [],
           "per_iteration": {k: [] for k in ("lr", "momentum", "accumulate", "optimizer_step")}}
    last_opt_step = -1
    for epoch in range(sc["epochs"]):
        for i in range(nb):
            ni = i + nb * epoch
            if ni <= nw:
                accumulate = apply_warmup(optimizer, ni, nw, lf(epoch), hyp, NOMINAL_BATCH, sc["batch_size"])
            step = ni - last_opt_step >= accumulate
            if step:
                optimizer.step()
                last_opt_step = ni
            rec = out["per_iteration"]
            rec["lr"].append([g["lr"] for g in optimizer.param_groups])
            rec["momentum"].append([g["momentum"] for g in optimizer.param_groups])
            rec["accumulate"].append(accumulate)
            rec["optimizer_step"].append(step)
        out["epoch_end_lr"].append([g["lr"] for g in optimizer.param_groups])
        scheduler.step()
    return out


@pytest.mark.parametrize("scenario", ["linear_bs16", "cos_bs16", "linear_bs24_nb50"])
def test_schedule_matches_yolov5(scenario):
    g = golden("lr_schedule.json")
    sc = next(s for s in g["inputs"]["scenarios"] if s["name"] == scenario)
    ref, ours = g["outputs"]["results"][scenario], _replay(g["inputs"]["hyp"], sc)
    assert ours["nw"] == ref["nw"]
    for key in ("weight_decay_scaled", "initial_lr", "lf_per_epoch", "epoch_end_lr"):
        np.testing.assert_allclose(ours[key], ref[key], rtol=1e-12, atol=0, err_msg=key)
    for key in ("lr", "momentum"):
        np.testing.assert_allclose(ours["per_iteration"][key], ref["per_iteration"][key], rtol=1e-12, atol=0,
                                   err_msg=key)
    for key in ("accumulate", "optimizer_step"):
        assert ours["per_iteration"][key] == ref["per_iteration"][key], key


def test_accumulation_and_decay_scale_follow_the_nominal_batch_of_64():
    assert accumulation(16) == (4, 1.0)
    assert accumulation(24) == (3, 24 * 3 / 64)
    assert accumulation(128) == (1, 2.0)
