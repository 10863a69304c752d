"""YOLOv5 v7.0's segmentation loss: the detection loss plus a per-instance mask BCE on prototype combinations,
cropped to the target box and normalised by its area."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.boxes import xywh2xyxy
from utils.masks import crop_mask
from utils.torch_utils import de_parallel
from utils.training.loss import ComputeLoss


class SegmentationLoss(ComputeLoss):
    """Loss of a SegmentationModel's training output ((p3, p4, p5), proto) against targets and ground-truth masks.

    overlap: masks are one index mask per image (pixel k = the image's k-th target, 1-based) as the overlap
    loader makes them; otherwise one 0/1 mask per target row."""

    def __init__(self, model: nn.Module, hyp: dict | None = None, overlap: bool = False):
        super().__init__(model, hyp)
        self.nm = de_parallel(model).model[-1].nm
        self.overlap = overlap

    def __call__(self, preds: tuple, targets: torch.Tensor,
                 masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss * batch size, detached [box, seg, obj, cls] losses) as v7.0's segment ComputeLoss."""
        p, proto = preds
        tcls, tbox, indices, anchors, tidxs, xywhn = self.build_targets(p, targets)
        lbox, lobj, lcls = self.detection_terms(p, tcls, tbox, indices, anchors)
        if tuple(masks.shape[-2:]) != tuple(proto.shape[-2:]):  # masks at a finer ratio than the prototypes
            masks = F.interpolate(masks[None], proto.shape[-2:], mode="nearest")[0]
        lseg = torch.zeros(1, device=self.device)
        for i, pi in enumerate(p):
            b, a, gj, gi = indices[i]
            if b.shape[0]:
                coef = pi[b, a, gj, gi][:, 5 + self.nc:]
                lseg += self._level_mask_loss(coef, b, tidxs[i], xywhn[i], proto, masks)
        bs = proto.shape[0]
        lseg *= self.hyp["box"] / bs
        return (lbox + lobj + lcls + lseg) * bs, torch.cat((lbox, lseg, lobj, lcls)).detach()

    def _level_mask_loss(self, coef: torch.Tensor, b: torch.Tensor, tidx: torch.Tensor, xywhn: torch.Tensor,
                         proto: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Sum over images of the mean cropped, area-normalised mask BCE of one level's assigned rows."""
        mh, mw = proto.shape[-2:]
        area = xywhn[:, 2:].prod(1)
        boxes = xywh2xyxy(xywhn * torch.tensor([mw, mh, mw, mh], device=self.device))
        loss = torch.zeros(1, device=self.device)
        for bi in b.unique():
            j = b == bi
            if self.overlap:
                gt = torch.where(masks[bi][None] == tidx[j].view(-1, 1, 1), 1.0, 0.0)
            else:
                gt = masks[tidx[j]]
            logits = (coef[j] @ proto[bi].view(self.nm, -1)).view(-1, mh, mw)
            bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
            loss += (crop_mask(bce, boxes[j]).mean(dim=(1, 2)) / area[j]).mean()
        return loss

    def build_targets(self, preds: list[torch.Tensor], targets: torch.Tensor) -> tuple:
        """Detection's (tcls, tbox, indices, anchors) plus per level each row's mask index (1-based within its image
        with overlap, else the target's row) and its target's normalized box (x, y, w, h)."""
        levels = self.assign(preds, torch.cat((targets, self._mask_index(targets)[:, None]), 1))
        tcls, tbox, indices, anch = (list(x) for x in zip(*(self.level_targets(i, t, gij)
                                                             for i, (t, gij) in enumerate(levels))))
        tidxs = [t[:, 7].long() for t, _ in levels]
        xywhn = [t[:, 2:6] / self._grid_gain(p) for (t, _), p in zip(levels, preds)]
        return tcls, tbox, indices, anch, tidxs, xywhn

    def _mask_index(self, targets: torch.Tensor) -> torch.Tensor:
        """Where each target's mask is: its value in its image's index mask (overlap) or its row (one mask each)."""
        if not self.overlap:
            return torch.arange(targets.shape[0], device=self.device, dtype=torch.float32)
        index = torch.zeros(targets.shape[0], device=self.device)
        for bi in targets[:, 0].unique():
            mine = targets[:, 0] == bi
            index[mine] = torch.arange(1, int(mine.sum()) + 1, device=self.device, dtype=torch.float32)
        return index

    def _grid_gain(self, p: torch.Tensor) -> torch.Tensor:
        """Normalized -> grid units of one level's (bs, na, ny, nx, no) output: (nx, ny, nx, ny)."""
        return torch.tensor(p.shape, device=self.device)[[3, 2, 3, 2]].float()
