"""tools/benchmarks/headline.py: parameters, GFLOPs and ms/image of each model as detect.py runs it."""

from __future__ import annotations

from tests.benchmark_helpers import section_table


def test_parameters_flops_and_time_per_model():
    t = section_table("headline", ["--quick", "--weights", "yolov5n.yaml", "yolov5n-ghostdyn.yaml"]).set_index("model")
    assert t.loc["yolov5n", "parameters"] == 1_872_157  # YOLOv5 v7.0's yolov5n at 80 classes
    assert t.loc["yolov5n-ghostdyn", "parameters"] < t.loc["yolov5n", "parameters"]
    assert 0 < t.loc["yolov5n-ghostdyn", "GFLOPs @64"] < t.loc["yolov5n", "GFLOPs @64"]
    assert (t["CPU ms/img"] > 0).all()
