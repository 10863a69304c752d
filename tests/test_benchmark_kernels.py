"""tools/benchmarks/kernels.py: every DynamicConv shape, fast path against timm's forward, at --quick sizes."""

from __future__ import annotations

import torch

from tests.benchmark_helpers import section_table
from tools.benchmarks import cli, kernels


def test_every_layer_shape_matches_timm_with_a_total_row():
    dyn = section_table("kernels", ["--quick", "--weights", "yolov5n-ghostdyn.yaml"])
    assert dyn["layer"].iloc[-1].startswith("total (yolov5n-ghostdyn") and dyn["n"].iloc[-1] == 22
    assert dyn["n"].iloc[:-1].sum() == 22 and len(dyn) == 9  # 8 distinct shapes at 64 px, then the total
    assert (dyn["out max abs diff"] <= 1e-4).all() and (dyn["grad max rel diff"] <= 1e-4).all()
    assert (dyn[["fwd timm ms", "fwd fast ms", "fwd+bwd timm ms", "fwd+bwd fast ms"]] > 0).all().all()


def test_static_models_have_no_kernel_table():
    s = cli.settings(cli.parse_opt(["--quick", "--weights", "yolov5n.yaml"], ("kernels",)))
    s.models = {"static": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))}
    assert kernels.table(s) is None
