"""YOLOv5's training loss: targets matched to anchors and grid cells, CIoU box, IoU-weighted objectness, BCE classes."""

from __future__ import annotations

import torch
import torch.nn as nn

from utils.boxes import bbox_iou
from utils.torch_utils import de_parallel

# Objectness weight of each detection level, small strides first (P3, P4, P5 / P3..P7)
LEVEL_BALANCE = {3: [4.0, 1.0, 0.4]}
LEVEL_BALANCE_DEFAULT = [4.0, 1.0, 0.25, 0.06, 0.02]

# A target is also given to the neighbour cells whose centre is within half a cell: self, +x, +y, -x, -y
NEIGHBOUR_OFFSETS = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float32)
CELL_REACH = 0.5


def scale_loss_gains(hyp: dict, nl: int, nc: int, imgsz: int, label_smoothing: float = 0.0) -> dict:
    """YOLOv5's per-model loss gains: the box/cls/obj gains of a hyp file are tuned for 3 levels, 80 classes and
    640 px, so they scale with this model's levels, classes and image area. A new dict; `hyp` is left unchanged."""
    return {**hyp, "box": hyp["box"] * (3 / nl), "cls": hyp["cls"] * (nc / 80 * 3 / nl),
            "obj": hyp["obj"] * ((imgsz / 640) ** 2 * 3 / nl), "label_smoothing": label_smoothing}


def smooth_BCE(eps: float = 0.0) -> tuple[float, float]:
    """Positive and negative BCE targets with label smoothing eps spread over both classes."""
    return 1.0 - 0.5 * eps, 0.5 * eps


class FocalLoss(nn.Module):
    """Focal loss around a BCEWithLogitsLoss (hyp fl_gamma > 0): down-weights easy, well-classified examples."""

    def __init__(self, loss_fcn: nn.BCEWithLogitsLoss, gamma: float = 1.5, alpha: float = 0.25):
        super().__init__()
        self.loss_fcn = loss_fcn
        self.gamma, self.alpha = gamma, alpha
        self.reduction = loss_fcn.reduction
        self.loss_fcn.reduction = "none"  # the focal factor applies per element

    def forward(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fcn(pred, true)
        prob = torch.sigmoid(pred)
        p_t = true * prob + (1 - true) * (1 - prob)
        alpha_factor = true * self.alpha + (1 - true) * (1 - self.alpha)
        loss = loss * alpha_factor * (1.0 - p_t) ** self.gamma
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


class ComputeLoss:
    """Loss of a DetectionModel's training output against (n, 6) targets [image, class, x, y, w, h] normalized.

    `hyp` holds the gains as `scale_loss_gains` returns them; without it, the model's `hyp` (as YOLOv5 sets it)."""

    def __init__(self, model: nn.Module, hyp: dict | None = None):
        device = next(model.parameters()).device
        hyp = de_parallel(model).hyp if hyp is None else hyp
        bce_cls = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([hyp["cls_pw"]], device=device))
        bce_obj = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([hyp["obj_pw"]], device=device))
        gamma = hyp.get("fl_gamma", 0.0)
        if gamma > 0:
            bce_cls, bce_obj = FocalLoss(bce_cls, gamma), FocalLoss(bce_obj, gamma)
        self.bce_cls, self.bce_obj = bce_cls, bce_obj
        self.cp, self.cn = smooth_BCE(eps=hyp.get("label_smoothing", 0.0))
        detect = de_parallel(model).model[-1]
        self.balance = LEVEL_BALANCE.get(detect.nl, LEVEL_BALANCE_DEFAULT)
        self.gr = 1.0  # objectness target = gr * IoU + (1 - gr)
        self.hyp = hyp
        self.na, self.nc, self.nl = detect.na, detect.nc, detect.nl
        self.anchors = detect.anchors  # (nl, na, 2) in grid units of each level
        self.device = device

    def __call__(self, preds: list[torch.Tensor], targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss * batch size, detached [box, obj, cls] losses) as YOLOv5 returns them."""
        lbox, lobj, lcls = self.detection_terms(preds, *self.build_targets(preds, targets))
        bs = preds[0].shape[0]
        return (lbox + lobj + lcls) * bs, torch.cat((lbox, lobj, lcls)).detach()

    def detection_terms(self, preds: list[torch.Tensor], tcls: list, tbox: list, indices: list,
                        anchors: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Box, objectness and class losses (each (1,), times its gain) of assigned targets; channels past the
        classes (a seg head's mask coefficients) are left to the caller."""
        lbox = torch.zeros(1, device=self.device)
        lobj = torch.zeros(1, device=self.device)
        lcls = torch.zeros(1, device=self.device)
        for i, pi in enumerate(preds):
            b, a, gj, gi = indices[i]
            tobj = torch.zeros(pi.shape[:4], dtype=pi.dtype, device=self.device)
            if b.shape[0]:
                ps = pi[b, a, gj, gi]
                pxy, pwh, pcls = ps[:, :2], ps[:, 2:4], ps[:, 5:5 + self.nc]
                pbox = torch.cat((pxy.sigmoid() * 2 - 0.5, (pwh.sigmoid() * 2) ** 2 * anchors[i]), 1)
                iou = bbox_iou(pbox, tbox[i], CIoU=True).squeeze(-1)
                lbox += (1.0 - iou).mean()
                iou = iou.detach().clamp(0).type(tobj.dtype)
                tobj[b, a, gj, gi] = (1.0 - self.gr) + self.gr * iou
                if self.nc > 1:
                    t = torch.full_like(pcls, self.cn)
                    t[range(b.shape[0]), tcls[i]] = self.cp
                    lcls += self.bce_cls(pcls, t)
            lobj += self.bce_obj(pi[..., 4], tobj) * self.balance[i]
        return lbox * self.hyp["box"], lobj * self.hyp["obj"], lcls * self.hyp["cls"]

    def build_targets(self, preds: list[torch.Tensor], targets: torch.Tensor) -> tuple[list, list, list, list]:
        """Per level: classes, boxes (xy offset in cell, wh in grid units), (image, anchor, gy, gx) and anchors."""
        levels = [self.level_targets(i, t, gij) for i, (t, gij) in enumerate(self.assign(preds, targets))]
        tcls, tbox, indices, anch = (list(x) for x in zip(*levels))
        return tcls, tbox, indices, anch

    def level_targets(self, i: int, t: torch.Tensor, gij: tuple) -> tuple:
        """One level's (class, box, (image, anchor, gy, gx), anchor) from assign's rows and cells."""
        gi, gj = gij
        b, c = t[:, :2].long().T
        a = t[:, 6].long()
        return c, torch.cat((t[:, 2:4] - torch.stack((gi, gj), 1), t[:, 4:6]), 1), (b, a, gj, gi), self.anchors[i][a]

    def assign(self, preds: list[torch.Tensor], targets: torch.Tensor) -> list[tuple[torch.Tensor, tuple]]:
        """Per level: the assigned rows [image, class, x, y, w, h (grid units), anchor, *extra columns of targets]
        and their cells (gx, gy), clamped into the grid. targets (n, 6 + extra) [image, class, x, y, w, h] normalized."""
        nt, ncol = targets.shape[0], targets.shape[1] + 1
        anchor_ids = torch.arange(self.na, device=self.device).float().view(self.na, 1).repeat(1, nt)
        # (na, nt, ncol): every target once per anchor, the anchor index after the box, extra columns last
        targets = targets.repeat(self.na, 1, 1)
        targets = torch.cat((targets[..., :6], anchor_ids[..., None], targets[..., 6:]), 2)
        offsets_all = NEIGHBOUR_OFFSETS.to(self.device) * CELL_REACH
        gain = torch.ones(ncol, device=self.device)
        levels = []
        for i in range(self.nl):
            anchors, shape = self.anchors[i], preds[i].shape
            gain[2:6] = torch.tensor(shape, device=self.device)[[3, 2, 3, 2]].float()  # normalized -> grid units
            t = targets * gain
            if nt:
                t, offsets = self._match(t, anchors, gain, offsets_all)
            else:
                t, offsets = t.view(-1, ncol), torch.zeros((0, 2), device=self.device)
            gij = (t[:, 2:4] - offsets).long()
            levels.append((t, (gij[:, 0].clamp(0, shape[3] - 1), gij[:, 1].clamp(0, shape[2] - 1))))
        return levels

    def _match(self, t: torch.Tensor, anchors: torch.Tensor, gain: torch.Tensor,
               offsets_all: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep (target, anchor) pairs with wh ratio < anchor_t and add the two nearest neighbour cells."""
        ratio = t[..., 4:6] / anchors[:, None]
        keep = torch.max(ratio, 1 / ratio).max(2)[0] < self.hyp["anchor_t"]
        t = t[keep]
        gxy = t[:, 2:4]
        gxy_inv = gain[[2, 3]] - gxy
        left, top = ((gxy % 1 < CELL_REACH) & (gxy > 1)).T
        right, bottom = ((gxy_inv % 1 < CELL_REACH) & (gxy_inv > 1)).T
        use = torch.stack((torch.ones_like(left), left, top, right, bottom))
        t = t.repeat((5, 1, 1))[use]
        offsets = (torch.zeros_like(gxy)[None] + offsets_all[:, None])[use]
        return t, offsets
