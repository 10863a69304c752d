"""ComputeLoss: anchor/cell assignment, exact zero cases, smoothing, focal loss and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from models.yolo import Model
from tests.conftest import golden
from utils.training.loss import LEVEL_BALANCE, ComputeLoss, FocalLoss, scale_loss_gains, smooth_BCE

HYP = dict(box=0.05, cls=0.5, cls_pw=1.0, obj=1.0, obj_pw=1.0, anchor_t=4.0, fl_gamma=0.0)
IMG = 128  # grids of 16, 8 and 4 cells


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    m = Model("yolov5n.yaml", nc=3).train()
    m.hyp = dict(HYP)
    return m


def _preds(model: nn.Module, bs: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return model(torch.rand(bs, 3, IMG, IMG))


def _loss(model: nn.Module, preds, targets, **hyp):
    model.hyp = {**HYP, **hyp}
    return ComputeLoss(model)(preds, targets)


def test_smooth_bce():
    assert smooth_BCE(0.0) == (1.0, 0.0)
    assert smooth_BCE(0.1) == pytest.approx((0.95, 0.05))


def test_loss_gains_scale_like_yolov5_without_touching_hyp(model):
    hyp = dict(HYP)
    scaled = scale_loss_gains(hyp, nl=3, nc=3, imgsz=320, label_smoothing=0.1)
    assert hyp == HYP
    assert (scaled["box"], scaled["cls"], scaled["obj"]) == (0.05, 0.5 * (3 / 80 * 3 / 3), 1.0 * 0.25)
    assert scaled["label_smoothing"] == 0.1 and scaled["anchor_t"] == 4.0
    explicit, from_model = ComputeLoss(model, scaled), ComputeLoss(model)
    assert explicit.hyp is scaled and from_model.hyp is model.hyp and explicit.cp == 1 - 0.05


def test_no_targets_gives_only_objectness_loss(model):
    preds = _preds(model)
    loss, items = _loss(model, preds, torch.zeros((0, 6)))
    assert items[0] == 0 and items[2] == 0
    bce = nn.BCEWithLogitsLoss()
    expected = sum(bce(p[..., 4], torch.zeros_like(p[..., 4])) * w for p, w in zip(preds, LEVEL_BALANCE[3]))
    assert items[1].item() == pytest.approx(expected.item() * HYP["obj"], rel=1e-5)
    assert loss.item() == pytest.approx(items.sum().item() * 2, rel=1e-5)  # times the batch size


def test_target_goes_to_its_cell_and_two_nearest_neighbours(model):
    preds = _preds(model)
    # on the 16x16 grid the centre is at (4.8, 11.2): own cell (4, 11), right neighbour (5, 11), upper one (4, 10)
    targets = torch.tensor([[1, 2, 0.3, 0.7, 0.1, 0.1]])
    cl = ComputeLoss(model)
    tcls, tbox, indices, _ = cl.build_targets(preds, targets)
    b, a, gj, gi = indices[0]
    cells = {(int(x), int(y)) for x, y in zip(gi, gj)}
    assert cells == {(4, 11), (5, 11), (4, 10)}
    assert (b == 1).all() and (tcls[0] == 2).all()
    n_anchors = len(set(a.tolist()))
    assert len(b) == 3 * n_anchors
    assert ((tbox[0][:, :2] > -0.5) & (tbox[0][:, :2] < 1.5)).all()  # reachable by 2 * sigmoid - 0.5
    assert torch.allclose(tbox[0][:, 2:], torch.tensor([1.6, 1.6]).expand(len(b), 2))  # 0.1 * 16 cells


def test_no_neighbour_outside_the_grid(model):
    preds = _preds(model)
    # (0.32, 15.68) on the 16x16 grid: the nearest neighbours would be the cell to the left and the one below,
    # both off the grid, so only the target's own cell is used.
    targets = torch.tensor([[0, 0, 0.02, 0.98, 0.1, 0.1]])
    _, _, indices, _ = ComputeLoss(model).build_targets(preds, targets)
    _, _, gj, gi = indices[0]
    assert {(int(x), int(y)) for x, y in zip(gi, gj)} == {(0, 15)}


def test_anchor_ratio_threshold_filters_levels(model):
    preds = _preds(model)
    # a 0.9-wide box is 115 px: too big for every P3 anchor (at most 33 px) by more than 4x
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.9, 0.9]])
    _, _, indices, _ = ComputeLoss(model).build_targets(preds, targets)
    assert len(indices[0][0]) == 0
    assert len(indices[2][0]) > 0
    model.hyp = {**HYP, "anchor_t": 100.0}
    _, _, indices, _ = ComputeLoss(model).build_targets(preds, targets)
    assert len(indices[0][0]) > 0
    model.hyp = dict(HYP)


def _perfect_preds(model: nn.Module, targets: torch.Tensor) -> list[torch.Tensor]:
    """Raw outputs that decode exactly to the target box at every assigned (cell, anchor)."""
    preds = [torch.zeros_like(p) for p in _preds(model)]
    _, tbox, indices, anchors = ComputeLoss(model).build_targets(preds, targets)
    for p, box, (b, a, gj, gi), anc in zip(preds, tbox, indices, anchors):
        sxy = (box[:, :2] + 0.5) / 2
        swh = torch.sqrt(box[:, 2:] / anc) / 2
        raw = torch.logit(torch.cat((sxy, swh), 1))
        p[b, a, gj, gi, :4] = raw
    return preds


def test_perfect_boxes_give_zero_box_loss(model):
    targets = torch.tensor([[0, 1, 0.3, 0.7, 0.1, 0.12], [1, 0, 0.6, 0.4, 0.3, 0.2]])
    preds = _perfect_preds(model, targets)
    _, items = _loss(model, preds, targets)
    assert items[0].item() == pytest.approx(0.0, abs=1e-5)
    _, items_off = _loss(model, [p + 0.5 for p in preds], targets)
    assert items_off[0] > 1e-3


def test_single_class_has_no_class_loss():
    m = Model("yolov5n.yaml", nc=1).train()
    m.hyp = dict(HYP)
    preds = m(torch.rand(1, 3, IMG, IMG))
    _, items = ComputeLoss(m)(preds, torch.tensor([[0, 0, 0.5, 0.5, 0.2, 0.2]]))
    assert items[2] == 0 and items[0] > 0


def test_label_smoothing_changes_class_targets(model):
    preds = _preds(model)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.2]])
    _, plain = _loss(model, preds, targets)
    _, smooth = _loss(model, preds, targets, label_smoothing=0.2)
    assert plain[:2].tolist() == smooth[:2].tolist()
    assert plain[2] != smooth[2]


def test_focal_loss_down_weights_easy_examples():
    pred = torch.tensor([4.0, -4.0, 0.0])
    true = torch.tensor([1.0, 0.0, 1.0])
    bce = nn.BCEWithLogitsLoss(reduction="none")(pred, true)
    focal = FocalLoss(nn.BCEWithLogitsLoss(reduction="none"), gamma=1.5, alpha=0.25)(pred, true)
    p = torch.sigmoid(pred)
    p_t = torch.where(true == 1, p, 1 - p)
    alpha = torch.where(true == 1, torch.tensor(0.25), torch.tensor(0.75))
    assert torch.allclose(focal, bce * alpha * (1 - p_t) ** 1.5)
    assert focal[0] / bce[0] < focal[2] / bce[2]  # the confident correct one is scaled down most


def test_fl_gamma_selects_focal_loss(model):
    model.hyp = {**HYP, "fl_gamma": 1.5}
    cl = ComputeLoss(model)
    model.hyp = dict(HYP)
    assert isinstance(cl.bce_cls, FocalLoss) and isinstance(cl.bce_obj, FocalLoss)


def test_loss_gradients_are_finite_and_reach_the_model(model):
    model.zero_grad()
    targets = torch.tensor([[0, 1, 0.3, 0.7, 0.1, 0.1], [1, 2, 0.5, 0.5, 0.6, 0.4], [1, 0, 0.95, 0.05, 0.05, 0.05]])
    loss, items = _loss(model, _preds(model), targets)
    assert math.isfinite(loss.item()) and torch.isfinite(items).all() and (items > 0).all()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.model[-1].m[0].weight.grad.abs().sum() > 0


# --- YOLOv5 v7.0 golden numbers (../shared/golden/loss.npz and build_targets.npz; tolerances from its README) ---

HYP_KEYS = ("box", "obj", "cls", "cls_pw", "obj_pw", "anchor_t", "fl_gamma", "label_smoothing")


class _DetectStub(nn.Module):
    """The few Detect attributes ComputeLoss reads: class count, anchors per level, level count, anchors, strides."""

    def __init__(self, nc: int, anchors: torch.Tensor, strides: torch.Tensor):
        super().__init__()
        self.nc, self.na, self.nl = nc, anchors.shape[1], anchors.shape[0]
        self.register_buffer("anchors", anchors)
        self.register_buffer("stride", strides)
        self.dummy = nn.Parameter(torch.zeros(1))  # ComputeLoss takes its device from the parameters


def _golden_loss(g: dict, case: str, anchor_t: float | None = None) -> ComputeLoss:
    """Our ComputeLoss for a golden case: a model stand-in holding the stored anchors and the case's hyp as stored."""
    detect = _DetectStub(int(g[f"{case}__nc"]), torch.from_numpy(g["anchors"]), torch.from_numpy(g["strides"]))
    model = nn.Module()
    model.model = nn.ModuleList([detect])  # DetectionModel.model[-1] is the Detect module
    if anchor_t is None:
        model.hyp = {k: float(g[f"{case}__hyp_{k}"]) for k in HYP_KEYS}
    else:
        model.hyp = {**HYP, "fl_gamma": 0.0, "label_smoothing": 0.0, "anchor_t": anchor_t}
    return ComputeLoss(model)


def _rel_diff(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float(((ours.detach().double() - torch.from_numpy(ref).double()).abs() / np.abs(ref).clip(1e-30)).max())


@pytest.mark.parametrize("case", ["default", "nc1", "label_smoothing", "focal", "anchor_t_2_9", "pos_weight",
                                  "no_targets"])
def test_loss_and_gradients_match_yolov5(case):
    g = golden("loss.npz")
    assert case in g["cases"].tolist()
    preds = [torch.from_numpy(g[f"{case}__p{i}"]).requires_grad_(True) for i in range(3)]
    loss, items = _golden_loss(g, case)(preds, torch.from_numpy(g[f"{case}__targets"]))
    assert _rel_diff(loss, g[f"{case}__loss"]) <= 1e-5
    torch.testing.assert_close(items, torch.from_numpy(g[f"{case}__loss_items"]), rtol=1e-5, atol=0)
    grads = torch.autograd.grad(loss, preds)
    for i, grad in enumerate(grads):
        ref = torch.from_numpy(g[f"{case}__grad_p{i}"])
        assert (grad - ref).abs().max() <= 1e-5 * ref.abs().max(), f"level {i}"
        assert (grad[ref == 0] == 0).all(), f"level {i}: gradient where YOLOv5 has none"


def _rows(g: dict, prefix: str) -> list[tuple]:
    """Assignment rows (b, a, gj, gi, cls, tbox, anchor) of one level, sorted so that row order does not matter."""
    cols = [g[f"{prefix}__{k}"] for k in ("b", "a", "gj", "gi", "tcls")]
    return sorted(zip(*(c.tolist() for c in cols), g[f"{prefix}__tbox"].tolist(), g[f"{prefix}__anch"].tolist()))


@pytest.mark.parametrize("case", ["default", "nc1", "anchor_t_2_9", "no_targets"])
def test_build_targets_matches_yolov5(case):
    g = golden("build_targets.npz")
    loss = _golden_loss(g, case, anchor_t=float(g[f"{case}__hyp_anchor_t"]))
    preds = [torch.zeros(tuple(s)) for s in g[f"{case}__pred_shapes"].tolist()]
    tcls, tbox, indices, anch = loss.build_targets(preds, torch.from_numpy(g[f"{case}__targets"]))
    for level in range(3):
        ref = f"{case}__L{level}"
        b, a, gj, gi = indices[level]
        ours = {f"{ref}__{k}": v.numpy() for k, v in dict(b=b, a=a, gj=gj, gi=gi, tcls=tcls[level],
                                                             tbox=tbox[level], anch=anch[level]).items()}
        assert len(b) == len(g[f"{ref}__b"]), f"level {level}: {len(b)} assignments, YOLOv5 {len(g[f'{ref}__b'])}"
        for mine, theirs in zip(_rows(ours, ref), _rows(g, ref)):
            assert mine[:5] == theirs[:5], f"level {level}"
            assert np.allclose(mine[5], theirs[5], rtol=0, atol=1e-6) and np.allclose(mine[6], theirs[6], atol=1e-6)


def test_golden_assignment_counts_pin_anchor_t_and_neighbour_rules():
    """README: 69/37/5 assignments for `default`, 50/23/2 at anchor_t 2.9 (target 2 sits exactly at ratio 4.0)."""
    g = golden("build_targets.npz")
    for case, counts in (("default", [69, 37, 5]), ("anchor_t_2_9", [50, 23, 2])):
        loss = _golden_loss(g, case, anchor_t=float(g[f"{case}__hyp_anchor_t"]))
        preds = [torch.zeros(tuple(s)) for s in g[f"{case}__pred_shapes"].tolist()]
        _, _, indices, _ = loss.build_targets(preds, torch.from_numpy(g[f"{case}__targets"]))
        assert [len(ix[0]) for ix in indices] == counts
