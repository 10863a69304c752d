"""tools/benchmarks/runtimes.py: each model in every CPU runtime we ship, its predictions held to PyTorch's."""

from __future__ import annotations

from tests.benchmark_helpers import section_table
from tools.benchmarks.timing import in_fresh_process


def test_every_runtime_gives_pytorchs_predictions():
    """fp32 everywhere: OpenVINO is asked for f32, which it would otherwise lower to bf16 on CPUs that have it
    (trained weights: a random model's near-constant outputs hide bf16's rounding)."""
    from tests.conftest import shared_path

    weights = [str(shared_path(f"weights/{w}")) for w in ("yolov5n.pt", "yolov5n-ghostdyn-seedpatch.pt")]
    # in a spawned process: the runtimes' native threads and objects must not outlive the test inside pytest's
    t = in_fresh_process(section_table, "runtimes", ["--quick", "--weights", *weights])
    assert {"PyTorch fused", "TorchScript", "ONNX Runtime static", "ONNX Runtime --dynamic"} <= set(t.runtime)
    diffs = t.filter(like="diff vs PyTorch")
    assert diffs.shape[1] == 2 and (diffs <= 1e-3).all().all()
    assert (t.filter(like="ms/img") > 0).all().all()


def test_classifiers_and_their_floor_in_chosen_runtimes():
    """Class scores compared as they are; --runtimes onnx times ONNX Runtime static beside PyTorch only; the floor of a
    YOLOv5 classifier (its transforms pickled again) loads like any --weights."""
    from tests.conftest import shared_path

    weights = [str(shared_path(f"weights/{w}")) for w in ("yolov5n-cls-coco128cls.pt",
                                                          "yolov5n-cls-ghostdyn-seedpatch.pt")]
    t = in_fresh_process(section_table, "runtimes", ["--quick", "--weights", *weights, "--free-bottlenecks",
                                                     "--runtimes", "onnx"])
    assert set(t.runtime) == {"PyTorch fused", "ONNX Runtime static"}
    diffs = t.filter(like="diff vs PyTorch")
    assert diffs.shape[1] == 3 and (diffs <= 1e-4).all().all()
    assert "yolov5n-cls-coco128cls-free-bottlenecks ms/img" in t and (t.filter(like="ms/img") > 0).all().all()
