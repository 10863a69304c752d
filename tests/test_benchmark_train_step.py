"""tools/benchmarks/train_step.py: a training step of each side, losses equal before timing."""

from __future__ import annotations

from tests.benchmark_helpers import section_table


def test_timm_and_fast_sides_give_one_loss():
    train = section_table("train_step", ["--quick", "--weights", "yolov5n-ghostdyn.yaml"])
    assert train["variant"].tolist() == ["timm reference", "fast"]
    assert (train["loss abs diff"] <= 1e-4).all() and (train["b2 ms/img"] > 0).all() and train["x vs ref"].iloc[0] == 1
