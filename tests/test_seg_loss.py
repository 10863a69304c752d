"""SegmentationLoss against YOLOv5 v7.0's segment ComputeLoss on every seg_loss.npz case: loss, items, gradients
(predictions and prototypes) and the assignment with mask indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from tests.conftest import golden
from utils.training.seg_loss import SegmentationLoss

CASES = ["overlap", "no_overlap", "overlap_ratio1", "no_overlap_ratio1", "focal_smooth", "no_targets"]
HYP_KEYS = ("box", "obj", "cls", "cls_pw", "obj_pw", "anchor_t", "fl_gamma", "label_smoothing")


@pytest.fixture(scope="module")
def g() -> dict:
    return golden("seg_loss.npz")


class _SegmentStub(nn.Module):
    """The Segment attributes the loss reads: classes, anchors per level, levels, mask count, anchors, strides."""

    def __init__(self, nc: int, nm: int, anchors: torch.Tensor, strides: torch.Tensor):
        super().__init__()
        self.nc, self.nm, self.na, self.nl = nc, nm, anchors.shape[1], anchors.shape[0]
        self.register_buffer("anchors", anchors)
        self.register_buffer("stride", strides)
        self.dummy = nn.Parameter(torch.zeros(1))  # the loss takes its device from the parameters


def _loss(g: dict, case: str) -> SegmentationLoss:
    model = nn.Module()
    model.model = nn.ModuleList([_SegmentStub(int(g["nc"]), int(g["nm"]), torch.from_numpy(g["anchors"]),
                                              torch.from_numpy(g["strides"]))])
    model.hyp = {k: float(g[f"{case}__hyp_{k}"]) for k in HYP_KEYS}
    return SegmentationLoss(model, overlap=bool(g[f"{case}__overlap"]))


def _inputs(g: dict, case: str) -> tuple:
    preds = [torch.from_numpy(g[f"p{i}"]).requires_grad_(True) for i in range(3)]
    proto = torch.from_numpy(g["proto"]).requires_grad_(True)
    return preds, proto, torch.from_numpy(g[f"{case}__targets"]), torch.from_numpy(g[f"{case}__masks"]).float()


def _rel(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(((ours.detach().double() - torch.from_numpy(ref).double()).abs() / np.abs(ref).clip(1e-30)).max())


@pytest.mark.parametrize("case", CASES)
def test_loss_items_and_gradients_match_yolov5(g, case):
    assert case in g["cases"].tolist()
    preds, proto, targets, masks = _inputs(g, case)
    loss, items = _loss(g, case)((preds, proto), targets, masks)
    assert items.shape == (4,)  # box, seg, obj, cls
    assert _rel(loss, g[f"{case}__loss"]) <= 1e-5
    assert _rel(items, g[f"{case}__loss_items"]) <= 1e-5
    grads = torch.autograd.grad(loss, [*preds, proto], allow_unused=True)
    assert (grads[3] is not None) == bool(g[f"{case}__proto_in_graph"])
    names = ["grad_p0", "grad_p1", "grad_p2", "grad_proto"]
    for name, grad in zip(names, grads):
        ref = torch.from_numpy(g[f"{case}__{name}"])
        grad = torch.zeros_like(ref) if grad is None else grad
        assert (grad - ref).abs().max() <= 1e-5 * ref.abs().max(), name
        assert (grad[ref == 0] == 0).all(), f"{name}: gradient where YOLOv5 has none"


@pytest.mark.parametrize("case", CASES)
def test_build_targets_matches_yolov5(g, case):
    preds, _, targets, _ = _inputs(g, case)
    tcls, tbox, indices, anch, tidxs, xywhn = _loss(g, case).build_targets(preds, targets)
    for level in range(3):
        ref = f"{case}__L{level}"
        b, a, gj, gi = indices[level]
        exact = dict(b=b, a=a, gj=gj, gi=gi, tcls=tcls[level], tidx=tidxs[level])
        for k, v in exact.items():  # same row order as v7.0
            np.testing.assert_array_equal(v.numpy(), g[f"{ref}__{k}"], err_msg=f"level {level} {k}")
        for k, v in dict(tbox=tbox[level], anch=anch[level], xywhn=xywhn[level]).items():
            np.testing.assert_allclose(v.numpy(), g[f"{ref}__{k}"], rtol=0, atol=1e-6, err_msg=f"level {level} {k}")


def test_assignment_counts_and_the_seg_item_pins_overlap(g):
    """README: 69/37/5 rows per level; equal seg items at ratio 4, different ones at ratio 1 (shared pixels)."""
    items = {}
    for case in CASES[:4]:
        preds, proto, targets, masks = _inputs(g, case)
        loss = _loss(g, case)
        assert [len(ix[0]) for ix in loss.build_targets(preds, targets)[2]] == [69, 37, 5]
        items[case] = loss((preds, proto), targets, masks)[1]
    assert torch.isclose(items["overlap"][1], items["no_overlap"][1], rtol=1e-6)
    assert not torch.isclose(items["overlap_ratio1"][1], items["no_overlap_ratio1"][1], rtol=1e-3)


def test_unsorted_targets_keep_their_overlap_index(g):
    """Index-mask values are counted per image, so targets given image by image in any order find their masks."""
    preds, proto, targets, masks = _inputs(g, "overlap")
    loss = _loss(g, "overlap")
    order = torch.argsort(targets[:, 0], descending=True, stable=True)  # image 1's rows first, each image in order
    np.testing.assert_allclose(loss((preds, proto), targets[order], masks)[1].numpy(),
                               g["overlap__loss_items"], rtol=1e-5)
