"""tools/benchmarks/loader.py: one epoch of the training loader, throughput and memory."""

from __future__ import annotations

from tests.benchmark_helpers import section_table


def test_reads_one_epoch_with_mosaic():
    row = section_table("loader", ["--quick", "--data", "coco8.yaml", "--workers", "1"]).iloc[0]
    assert row["data"] == "coco8/images/train" and row["images"] == 4 and row["mosaic"] and row["images/s"] > 0
    assert row["peak MB (main RSS + workers USS)"] > 100
