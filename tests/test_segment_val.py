"""Segmentation evaluate on hand-made batches: a model whose boxes and masks are known, so the Box and Mask rows,
the v7.0 'no correct mask, no metrics' rule, overlap masks, losses and COCO RLE records can be checked exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from utils.evaluation.segment_val import HEADER, ROW, evaluate, report, rle_masks

IMG, PROTO, NC, NM = 64, 16, 2, 1
# two objects in image 0, one in image 1: (class, x1, y1, x2, y2) in pixels, on the 4-pixel proto grid
OBJECTS = {0: [(0, 8, 8, 32, 40), (1, 36, 12, 60, 28)], 1: [(1, 16, 20, 48, 52)]}


class KnownSegModel(nn.Module):
    """Predicts each object's box at conf 0.9 with its class; the prototype is +10 inside the objects, -10 outside,
    so coefficient `coef` gives the object's mask (1) or nothing (-1)."""

    def __init__(self, coef: float = 1.0):
        super().__init__()
        self.names = {0: "cat", 1: "dog"}
        self.coef = coef
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, im: torch.Tensor, augment: bool = False):
        bs = im.shape[0]
        preds = torch.zeros(bs, 4, 5 + NC + NM)
        protos = torch.full((bs, NM, PROTO, PROTO), -10.0)
        for b in range(bs):
            for k, (c, x1, y1, x2, y2) in enumerate(OBJECTS[b]):
                preds[b, k, :4] = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
                preds[b, k, 4], preds[b, k, 5 + c], preds[b, k, 5 + NC] = 0.9, 1.0, self.coef
                protos[b, 0, y1 // 4:y2 // 4, x1 // 4:x2 // 4] = 10.0
        return preds, protos


def _batch(overlap: bool, ratio: int = 4) -> tuple:
    """One batch as the seg loader yields it: uint8 images, normalized targets, paths, shapes and masks."""
    imgs = torch.zeros(2, 3, IMG, IMG, dtype=torch.uint8)
    rows, masks = [], []
    side = IMG // ratio
    for b, objs in OBJECTS.items():
        index_mask = torch.zeros(side, side)
        for k, (c, x1, y1, x2, y2) in enumerate(objs):
            rows.append([b, c, (x1 + x2) / 2 / IMG, (y1 + y2) / 2 / IMG, (x2 - x1) / IMG, (y2 - y1) / IMG])
            m = torch.zeros(side, side)
            m[y1 // ratio:y2 // ratio, x1 // ratio:x2 // ratio] = 1
            masks.append(m)
            index_mask[m > 0] = k + 1
        if overlap:
            masks[-len(objs):] = [index_mask]
    shapes = [((IMG, IMG), ((1.0, 1.0), (0.0, 0.0)))] * 2
    return imgs, torch.tensor(rows), ["a/im0.jpg", "a/im1.jpg"], shapes, torch.stack(masks).to(torch.uint8)


@pytest.mark.parametrize("overlap,ratio", [(False, 4), (True, 4), (False, 1)])
def test_known_boxes_and_masks_score_full_marks(overlap, ratio):
    ev = evaluate(KnownSegModel(), [_batch(overlap, ratio)], nc=NC, overlap=overlap, nm=NM)
    (mp_b, mr_b, map50_b, map_b, mp_m, mr_m, map50_m, map_m, *losses), maps, times = ev.results()
    assert (mp_b, mr_b, mp_m, mr_m) == pytest.approx((1, 1, 1, 1))
    assert (map50_b, map_b, map50_m, map_m) == pytest.approx((0.995,) * 4)  # YOLOv5's AP caps at 0.995
    assert losses == [0.0] * 4 and len(times) == 3
    np.testing.assert_allclose(maps, [0.995 * 2] * NC)  # v7.0: box mAP + mask mAP per class
    assert ev.seen == 2 and ev.nt.tolist() == [1, 2]


def test_no_correct_mask_means_no_metrics_at_all():
    """v7.0 computes AP only when some mask is correct: perfect boxes with empty masks report zeros everywhere."""
    ev = evaluate(KnownSegModel(coef=-1.0), [_batch(False)], nc=NC, nm=NM)
    assert ev.results()[0][:8] == (0.0,) * 8


def test_report_prints_v7_table(log_lines):
    ev = evaluate(KnownSegModel(), [_batch(False)], nc=NC, nm=NM)
    assert HEADER.split() == ["Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)", "Mask(P", "R",
                              "mAP50", "mAP50-95)"]
    report(ev, per_class=True)
    lines = log_lines
    assert lines[0] == ROW % ("all", 2, 3, 1, 1, 0.995, 0.995, 1, 1, 0.995, 0.995)
    assert [ln.split()[0] for ln in lines[1:]] == ["cat", "dog"]


def test_json_records_carry_rle_masks_in_original_pixels():
    from pycocotools import mask as mask_utils

    ev = evaluate(KnownSegModel(), [_batch(False)], nc=NC, nm=NM, class_map=[1, 2])
    assert len(ev.jdict) == 3
    first = ev.jdict[0]
    assert first["image_id"] == "im0" and first["category_id"] == 1 and first["score"] == pytest.approx(0.9)
    decoded = mask_utils.decode(first["segmentation"])
    assert decoded.shape == (IMG, IMG) and decoded.sum() == 24 * 32 - 4  # the (8, 8, 32, 40) box at input
    # resolution, less its 4 corner pixels, where the bilinear upsampling of the prototype falls to 0.39


def test_rle_masks_round_trip():
    from pycocotools import mask as mask_utils

    masks = np.zeros((5, 7, 2), np.uint8)
    masks[1:3, 2:6, 0] = 1
    rles = rle_masks(masks)
    assert isinstance(rles[0]["counts"], str)
    np.testing.assert_array_equal(mask_utils.decode(rles[0]), masks[..., 0])
    assert mask_utils.decode(rles[1]).sum() == 0
