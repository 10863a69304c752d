"""utils/torch_utils against YOLOv5 v7.0's numbers: ModelEMA's ramped decay and smart_optimizer's parameter groups."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn

from models.yolo import Model
from tests.conftest import golden
from utils.files import ROOT
from utils.torch_utils import (ModelEMA, deterministic_algorithms, fuse_conv_and_bn, init_seeds, keep_freed_memory,
                               select_device, smart_optimizer, to_float_image)


def _ema_model(g: dict) -> nn.Module:
    """The golden EMA model, Conv2d(3, 4, 3) + BatchNorm2d(4), loaded with the stored initial state."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model.load_state_dict({k: torch.from_numpy(g[f"init__{k}"]) for k in model.state_dict()})
    return model


def _load_step(model: nn.Module, g: dict, k: int) -> None:
    model.load_state_dict({key: torch.from_numpy(np.asarray(g[f"steps__{key}"][k])) for key in model.state_dict()})


def _assert_state(ema: ModelEMA, g: dict, prefix: str) -> float:
    """Every EMA entry within 1e-6 relative + 1e-7 absolute of YOLOv5's; returns the largest difference."""
    worst = 0.0
    for key, v in ema.ema.state_dict().items():
        ref = torch.from_numpy(np.asarray(g[f"{prefix}__{key}"]))
        torch.testing.assert_close(v, ref.to(v.dtype), rtol=1e-6, atol=1e-7, msg=f"{prefix} {key}")
        worst = max(worst, float((v.double() - ref.double()).abs().max()))
    return worst


def test_ema_matches_yolov5_from_a_fresh_start():
    g = golden("ema.npz")
    model = _ema_model(g)
    ema = ModelEMA(model, decay=float(g["ema_decay"]), tau=int(g["ema_tau"]))
    snapshots = set(g["snapshots"].tolist())
    for k in range(50):
        _load_step(model, g, k)
        ema.update(model)
        assert ema.decay(ema.updates) == pytest.approx(float(g["fresh__decay"][k]), rel=1e-12)
        if k + 1 in snapshots:
            _assert_state(ema, g, f"fresh__after_{k + 1}")
    assert ema.updates == int(g["fresh__updates"])


def test_ema_matches_yolov5_when_resumed():
    g = golden("ema.npz")
    model = _ema_model(g)
    ema = ModelEMA(model, decay=float(g["ema_decay"]), tau=int(g["ema_tau"]), updates=int(g["resume_updates"]))
    for k in range(int(g["resume_steps"])):
        _load_step(model, g, k)
        ema.update(model)
        assert ema.decay(ema.updates) == pytest.approx(float(g["resume__decay"][k]), rel=1e-12)
    _assert_state(ema, g, "resume__after_5")
    assert ema.updates == int(g["resume__updates"])


@pytest.fixture(scope="module")
def yolov5n_80() -> nn.Module:
    return Model("yolov5n.yaml", ch=3, nc=80)


def test_optimizer_groups_match_yolov5(yolov5n_80):
    g = golden("optimizer_groups.json")
    inp, out = g["inputs"], g["outputs"]
    opt = smart_optimizer(yolov5n_80, inp["optimizer"], inp["lr0"], inp["momentum"], inp["weight_decay_scaled"])
    names = {id(p): n for n, p in yolov5n_80.named_parameters()}
    assert sum(p.numel() for p in yolov5n_80.parameters()) == out["total_parameters"]
    assert type(opt).__name__ == out["optimizer_type"]
    order = [names[id(p)] for group in opt.param_groups for p in group["params"]]
    assert order == out["optimizer_param_order"]
    for j, (group, ref) in enumerate(zip(opt.param_groups, out["param_groups"], strict=True)):
        assert (group["lr"], group["momentum"], group["nesterov"]) == (ref["lr"], ref["momentum"], ref["nesterov"])
        assert group["weight_decay"] == ref["weight_decay"] and len(group["params"]) == ref["n_params"], f"group {j}"
        for p in group["params"]:
            want = out["params"][names[id(p)]]
            assert (want["param_group_index"], want["weight_decay"]) == (j, group["weight_decay"]), names[id(p)]
            assert list(p.shape) == want["shape"]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSProp"])
def test_other_optimizers_match_yolov5(yolov5n_80, name):
    g = golden("optimizer_groups.json")
    inp, ref = g["inputs"], g["outputs"]["other_optimizers"][name]
    opt = smart_optimizer(yolov5n_80, name, inp["lr0"], inp["momentum"], inp["weight_decay_scaled"])
    assert type(opt).__name__ == ref["type"]
    for group, want in zip(opt.param_groups, ref["param_groups"], strict=True):
        for key, value in want.items():
            got = len(group["params"]) if key == "n_params" else group[key]
            assert (list(got) if key == "betas" else got) == value, f"{name} {key}"


def test_fused_conv_equals_yolov5s_fold_bit_for_bit():
    # YOLOv5: weight = diag(gamma / sqrt(eps + var)) @ w; bias = beta - gamma * mean / sqrt(var + eps), in that
    # order; a different order (beta - mean * (gamma / std)) differs in the last bit and can reorder tied scores.
    torch.manual_seed(0)
    conv, bn = torch.nn.Conv2d(16, 32, 3, bias=False), torch.nn.BatchNorm2d(32, eps=1e-3)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.normal_()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.1, 3)
    fused = fuse_conv_and_bn(conv, bn)
    std = torch.sqrt(bn.running_var + bn.eps)
    weight = torch.mm(torch.diag(bn.weight / std), conv.weight.view(32, -1)).view_as(conv.weight)
    assert torch.equal(fused.weight, weight)
    assert torch.equal(fused.bias, bn.bias - bn.weight * bn.running_mean / std)
    assert not torch.equal(fused.bias, bn.bias - bn.running_mean * (bn.weight / std))  # the order matters here


def test_to_float_image_scales_without_touching_the_input():
    """uint8 -> float in [0, 1] as YOLOv5's `im.float() / 255`, bit for bit; a float input is never scaled in place."""
    im = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    assert torch.equal(to_float_image(im, "cpu"), torch.from_numpy(im).float() / 255)
    assert to_float_image(im, "cpu", half=True).dtype == torch.float16
    x = torch.full((1, 3, 4, 4), 255.0)
    assert torch.equal(to_float_image(x, "cpu"), torch.ones_like(x)) and torch.equal(x, torch.full_like(x, 255.0))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator setting")
def test_cpu_device_keeps_freed_tensors_mapped():
    """After keep_freed_memory('cpu'), a repeated forward whose tensors exceed 32 MB reuses their memory: a fraction of the
    page faults (glibc's default unmaps each one on free and faults its 4 KB pages in again on every call: ~90k here;
    alone this measured 0 with the setting, inside the loaded full suite up to one tensor's 12.8k)."""
    code = textwrap.dedent("""
        import resource, sys, torch
        from utils.torch_utils import keep_freed_memory
        if sys.argv[1] == "1":
            assert keep_freed_memory("cpu")
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 1, 1), torch.nn.SiLU(), torch.nn.Conv2d(16, 16, 3, 1, 1))
        x = torch.rand(8, 3, 320, 320)  # activations of 52 MB
        def faults():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            with torch.no_grad():
                net(x).sigmoid()
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        faults(), faults()
        print(faults())
    """)
    counts = [int(subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, cwd=ROOT,
                                 timeout=120, check=True).stdout.split()[-1]) for flag in ("0", "1")]
    assert counts[0] > 50000 and counts[1] * 2 < counts[0], counts


def test_select_device_has_no_side_effects(monkeypatch):
    """select_device only parses: CUDA stays visible to the rest of the process, the allocator is left alone."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert select_device("cpu") == torch.device("cpu")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not keep_freed_memory("meta")  # the allocator setting is for CPU work only


def test_deterministic_algorithms_restores_and_nests(monkeypatch):
    """Deterministic kernels inside the block only; nested blocks and errors restore what was there before."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    assert before == (False, False)
    with pytest.raises(RuntimeError), deterministic_algorithms(3):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and os.environ["PYTHONHASHSEED"] == "3"
        with deterministic_algorithms(4):
            assert os.environ["PYTHONHASHSEED"] == "4"
        assert os.environ["PYTHONHASHSEED"] == "3" and torch.are_deterministic_algorithms_enabled()
        raise RuntimeError
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic) == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_init_seeds_repeats_random_streams():
    init_seeds(5)
    a = torch.rand(3), np.random.rand(3)
    init_seeds(5)
    assert torch.equal(a[0], torch.rand(3)) and np.array_equal(a[1], np.random.rand(3))
    assert not torch.are_deterministic_algorithms_enabled()


def test_preserved_rng_puts_every_stream_back():
    import random

    import numpy as np

    from utils.torch_utils import preserved_rng

    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = random.random(), np.random.rand(), torch.rand(1).item()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with preserved_rng():  # e.g. a tracker drawing a run id
        random.random(), np.random.rand(3), torch.rand(5)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
