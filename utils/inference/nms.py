"""Non-maximum suppression: raw model output -> per-image [x1, y1, x2, y2, conf, cls, *mask coefficients] detections."""

from __future__ import annotations

import time

import torch
import torchvision

from utils.boxes import xywh2xyxy
from utils.errors import UserError
from utils.logger import LOGGER

MAX_WH = 7680  # per-class box offset (pixels): boxes of different classes never overlap after the shift
MAX_NMS = 30_000  # most boxes handed to torchvision.ops.nms per image, highest confidence first


def _append_labels(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Add ground-truth boxes (cls, xc, yc, w, h pixels) as certain predictions, for --save-hybrid autolabelling
    (mask coefficients zero)."""
    v = torch.zeros((len(labels), x.shape[1]), device=x.device, dtype=x.dtype)
    v[:, :4] = labels[:, 1:5]
    v[:, 4] = 1.0
    v[torch.arange(len(labels), device=x.device), labels[:, 0].long() + 5] = 1.0
    return torch.cat((x, v), 0)


def _candidates(x: torch.Tensor, conf_thres: float, multi_label: bool, nm: int) -> torch.Tensor:
    """Rows [x1, y1, x2, y2, conf, cls, *masks] above conf_thres, conf = objectness x class probability. The nm
    trailing mask coefficients come out multiplied by objectness too, as YOLOv5 v7.0 scales every column after it."""
    scores = x[:, 5:] * x[:, 4:5]
    scores, masks = (scores[:, :-nm], scores[:, -nm:]) if nm else (scores, scores[:, :0])
    box = xywh2xyxy(x[:, :4])
    if multi_label:
        i, j = (scores > conf_thres).nonzero(as_tuple=False).T
        return torch.cat((box[i], scores[i, j, None], j[:, None].to(x.dtype), masks[i]), 1)
    conf, j = scores.max(1, keepdim=True)
    return torch.cat((box, conf, j.to(x.dtype), masks), 1)[conf.view(-1) > conf_thres]


def non_max_suppression(prediction: torch.Tensor | list | tuple, conf_thres: float = 0.25, iou_thres: float = 0.45,
                        classes: list[int] | None = None, agnostic: bool = False, multi_label: bool = False,
                        labels: list[torch.Tensor] | tuple = (), max_det: int = 300,
                        time_limit: float | None = None, nm: int = 0) -> list[torch.Tensor]:
    """Per image, keep the best of overlapping boxes; a list of (n, 6 + nm) tensors [x1, y1, x2, y2, conf, cls,
    *mask coefficients], nm being the count of mask coefficients ending each row (segmentation models: 32).

    time_limit (seconds) exists for live streams only: when set and exceeded, the remaining images get no
    detections and a warning is logged. None (the default) never drops anything, so results are reproducible.
    """
    if not 0 <= conf_thres <= 1:
        raise UserError(f"--conf-thres {conf_thres} must be between 0.0 and 1.0")
    if not 0 <= iou_thres <= 1:
        raise UserError(f"--iou-thres {iou_thres} must be between 0.0 and 1.0")
    if isinstance(prediction, (list, tuple)):  # eval-mode model output (inference, train_out)
        prediction = prediction[0]
    device = prediction.device
    if device.type == "mps":  # torchvision nms is not available on MPS
        prediction = prediction.cpu()
    nc = prediction.shape[2] - nm - 5
    if nc < 1:
        raise UserError(f"non_max_suppression: rows of {prediction.shape[2]} columns hold no class score with nm={nm}")
    multi_label &= nc > 1
    keep_obj = prediction[..., 4] > conf_thres
    output = [torch.zeros((0, 6 + nm), device=prediction.device)] * prediction.shape[0]
    start = time.time()
    for xi, x in enumerate(prediction):
        x = x[keep_obj[xi]]
        if labels and len(labels[xi]):
            x = _append_labels(x, labels[xi])
        if not x.shape[0]:
            continue
        x = _candidates(x, conf_thres, multi_label, nm)
        if classes is not None:
            x = x[(x[:, 5:6] == torch.tensor(classes, device=x.device)).any(1)]
        if not x.shape[0]:
            continue
        x = x[x[:, 4].argsort(descending=True)[:MAX_NMS]]
        offsets = x[:, 5:6] * (0 if agnostic else MAX_WH)
        keep = torchvision.ops.nms(x[:, :4] + offsets, x[:, 4], iou_thres)[:max_det]
        output[xi] = x[keep]
        if time_limit is not None and time.time() - start > time_limit:
            LOGGER.warning(f"WARNING ⚠️ NMS time limit {time_limit:.3f}s exceeded, "
                           f"{prediction.shape[0] - xi - 1} image(s) of this batch get no detections")
            break
    return [o.to(device) for o in output]
