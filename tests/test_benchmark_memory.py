"""tools/benchmarks/memory.py: one peak-memory row per inference variant and training side."""

from __future__ import annotations

from tests.benchmark_helpers import section_table
from tools.benchmarks import memory


def test_rows_per_variant_and_side(monkeypatch):
    """The jobs run in this process here (fresh processes are timing.py's, tested there) to keep the test short."""
    monkeypatch.setattr(memory, "in_fresh_process", lambda job, *args: job(*args))
    mem = section_table("memory", ["--quick", "--weights", "yolov5n-ghostdyn.yaml"])
    assert mem["variant"].tolist() == ["timm reference, unfused", "fast, unfused", "fast, fused", "timm reference",
                                       "fast"]
    assert mem["mode"].tolist() == ["inference b2"] * 3 + ["train b2"] * 2
    assert (mem["peak RSS MB"] > 100).all() and (mem["peak - before call RSS MB"] > -50).all()
