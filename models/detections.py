"""Results of the Python API: boxes per image in four formats, printed, drawn, saved, cropped or as DataFrames."""

from __future__ import annotations

from copy import copy
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from utils.annotator import Annotator, colors
from utils.boxes import xyxy2xywh
from utils.files import increment_path, safe_filename
from utils.logger import LOGGER, colorstr

XYXY_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "confidence", "class", "name")
XYWH_COLUMNS = ("xcenter", "ycenter", "width", "height", "confidence", "class", "name")


class Detections:
    """Detections of one AutoShape call: .xyxy/.xywh/.xyxyn/.xywhn lists of (n, 6) tensors, one per image."""

    def __init__(self, ims: list[np.ndarray], pred: list[torch.Tensor], files: list[str],
                 times: tuple[float, float, float] = (0.0, 0.0, 0.0), names: dict[int, str] | None = None,
                 shape: tuple | None = None):
        d = pred[0].device
        gn = [torch.tensor([im.shape[1], im.shape[0], im.shape[1], im.shape[0], 1, 1], device=d) for im in ims]
        self.ims = ims  # RGB HWC uint8 arrays
        self.pred = pred  # (n, 6) tensors: x1, y1, x2, y2, conf, cls in pixels of each image
        self.names = names or {}
        self.files = files
        self.times = times
        self.xyxy = pred
        self.xywh = [xyxy2xywh(x) for x in pred]
        self.xyxyn = [x / g for x, g in zip(self.xyxy, gn)]
        self.xywhn = [x / g for x, g in zip(self.xywh, gn)]
        self.n = len(pred)
        self.t = tuple(x / self.n * 1e3 for x in times)  # ms per image: pre-process, inference, NMS
        self.s = tuple(shape) if shape is not None else ()

    def _summary(self, i: int) -> str:
        """'image 1/2: 1080x810 4 persons, 1 bus' for image i."""
        im, pred = self.ims[i], self.pred[i]
        s = f"image {i + 1}/{self.n}: {im.shape[0]}x{im.shape[1]} "
        if not pred.shape[0]:
            return s + "(no detections)"
        for c in pred[:, -1].unique():
            k = int((pred[:, -1] == c).sum())
            s += f"{k} {self.names[int(c)]}{'s' * (k > 1)}, "
        return s.rstrip(", ")

    def _annotated(self, i: int, labels: bool) -> np.ndarray:
        """Image i with its boxes and labels drawn, as a new RGB array."""
        annotator = Annotator(self.ims[i].copy(), example=str(self.names))
        for *box, conf, cls in reversed(self.pred[i]):
            label = f"{self.names[int(cls)]} {conf:.2f}" if labels else ""
            annotator.box_label(box, label, color=colors(int(cls)))
        return annotator.result()

    def __str__(self) -> str:
        s = "\n".join(self._summary(i) for i in range(self.n))
        return f"{s}\nSpeed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape {self.s}" % self.t

    def __repr__(self) -> str:
        return f"YOLOv5 {self.__class__} instance\n" + self.__str__()

    def __len__(self) -> int:
        return self.n

    def print(self) -> None:
        LOGGER.info(self.__str__())

    def show(self, labels: bool = True) -> None:
        """Open each annotated image in the system viewer."""
        for i in range(self.n):
            Image.fromarray(self._annotated(i, labels)).show(self.files[i])

    def render(self, labels: bool = True) -> list[np.ndarray]:
        """Draw the boxes onto self.ims (RGB arrays) and return them."""
        self.ims = [self._annotated(i, labels) for i in range(self.n)]
        return self.ims

    def save(self, labels: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False) -> Path:
        """Write each annotated image to a new save_dir (runs/detect/exp, exp2, ...); returns the folder."""
        save_dir = increment_path(save_dir, exist_ok, mkdir=True)
        for i in range(self.n):
            Image.fromarray(self._annotated(i, labels)).save(save_dir / safe_filename(self.files[i], f"image{i}.jpg"))
        LOGGER.info(f"Saved {self.n} image{'s' * (self.n > 1)} to {colorstr('bold', save_dir)}")
        return save_dir

    def crop(self, save: bool = True, save_dir: str | Path = "runs/detect/exp", exist_ok: bool = False) -> list[dict]:
        """Every detection's crop as a dict (box, conf, cls, label, im); saved under save_dir/crops/<name>/ too."""
        from utils.evaluation.plots import save_one_box

        save_dir = increment_path(save_dir, exist_ok, mkdir=True) if save else None
        crops = []
        for i in range(self.n):
            for *box, conf, cls in reversed(self.pred[i]):
                label = f"{self.names[int(cls)]} {conf:.2f}"
                name, image = safe_filename(self.names[int(cls)]), safe_filename(self.files[i], f"image{i}.jpg")
                file = save_dir / "crops" / name / image if save else None
                im = save_one_box(box, self.ims[i], file=file, BGR=False, save=save)
                crops.append({"box": box, "conf": conf, "cls": cls, "label": label, "im": im})
        if save:
            LOGGER.info(f"Saved results to {save_dir}\n")
        return crops

    def pandas(self) -> Detections:
        """A copy whose .xyxy/.xyxyn/.xywh/.xywhn are lists of DataFrames with named columns."""
        import pandas as pd  # here, not at the top: 0.5 s that every model load (detect.py, val.py) would pay

        new = copy(self)
        for k, columns in (("xyxy", XYXY_COLUMNS), ("xyxyn", XYXY_COLUMNS), ("xywh", XYWH_COLUMNS),
                           ("xywhn", XYWH_COLUMNS)):
            rows = [[r[:5] + [int(r[5]), self.names[int(r[5])]] for r in x.tolist()] for x in getattr(self, k)]
            setattr(new, k, [pd.DataFrame(r, columns=list(columns)) for r in rows])
        return new

    def tolist(self) -> list[Detections]:
        """One Detections object per image."""
        per_image = tuple(x / self.n for x in self.times)
        return [Detections([self.ims[i]], [self.pred[i]], [self.files[i]], per_image, self.names, self.s)
                for i in range(self.n)]
