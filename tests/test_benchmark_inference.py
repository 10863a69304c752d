"""tools/benchmarks/inference.py: ms/image of each model variant and how far its predictions are from the first."""

from __future__ import annotations

from tests.benchmark_helpers import section_table


def test_variants_of_static_and_dynamic_models():
    inf = section_table("inference", ["--quick", "--weights", "yolov5n.yaml", "yolov5n-ghostdyn.yaml"])
    nano, ghost = inf[inf.model == "yolov5n"], inf[inf.model == "yolov5n-ghostdyn"]
    assert nano["variant"].tolist() == ["unfused", "fused"] and nano["b1 x vs ref"].isna().all()
    assert ghost["variant"].tolist() == ["timm reference, unfused", "fast, unfused", "fast, fused"]
    assert (inf["max abs diff"] <= 1e-4).all() and ghost["b1 x vs ref"].iloc[0] == 1
    assert ((inf[["b1 ms/img", "b2 ms/img"]]) > 0).all().all()
