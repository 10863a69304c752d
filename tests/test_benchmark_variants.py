"""tools/benchmarks/variants.py: the timm-reference copy of a model runs timm's forward and leaves the model alone."""

from __future__ import annotations

import torch

from models.common import DynamicConv
from models.yolo import DetectionModel
from tools.benchmarks.variants import TimmDynamicConv, inference_variants, timm_reference


def test_timm_reference_is_a_copy_with_the_same_outputs():
    torch.manual_seed(0)
    model = DetectionModel("yolov5n-ghostdyn.yaml").eval()
    ref = timm_reference(model)
    dyn = [type(m) for m in model.modules() if isinstance(m, DynamicConv)]
    assert set(dyn) == {DynamicConv} and {type(m) for m in ref.modules() if isinstance(m, DynamicConv)} == {
        TimmDynamicConv} and len(dyn) == 22
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ref(x)[0], model(x)[0], atol=1e-4)
    assert next(ref.parameters()).data_ptr() != next(model.parameters()).data_ptr()


def test_static_models_have_no_reference_variant():
    assert list(inference_variants(DetectionModel("yolov5n.yaml").eval())) == ["unfused", "fused"]


def test_seg_and_cls_models_load_and_give_their_predictions():
    """A seg YAML builds a SegmentationModel; predictions are a segmenter's rows and a classifier's scores, and
    diffs divide only boxes by the image size."""
    from models.yolo import ClassificationModel, SegmentationModel
    from tools.benchmarks.variants import diff_scale, load_float_model, predictions

    seg = load_float_model("yolov5n-seg.yaml", torch.device("cpu"))
    assert type(seg) is SegmentationModel
    x = torch.rand(2, 3, 64, 64)
    rows = predictions(seg, x)
    assert rows.shape[::2] == (2, 4 + 1 + 80 + 32) and diff_scale(rows, 64)[:5] == [64.0] * 4 + [1.0]
    cls = ClassificationModel(cfg="yolov5n.yaml", nc=12).eval()
    scores = predictions(cls, x)
    assert scores.shape == (2, 12) and diff_scale(scores, 64) == [1.0] * 12
