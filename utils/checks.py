"""Argument checks: values adjusted with a warning (image sizes to the stride), or refused up front in one line."""

from __future__ import annotations

import math
import numbers
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from utils.logger import LOGGER


def make_divisible(x: float, divisor: int) -> int:
    """Smallest multiple of divisor that is >= x (channel counts, image sizes)."""
    return int(math.ceil(x / divisor) * divisor)


def check_img_size(imgsz: int | list[int], s: int = 32, floor: int = 0) -> int | list[int]:
    """Round image size(s) up to a multiple of the model stride s, warning when it changes."""
    if isinstance(imgsz, int):
        new_size = max(make_divisible(imgsz, int(s)), floor)
    else:
        imgsz = list(imgsz) * 2 if len(imgsz) == 1 else list(imgsz)
        new_size = [max(make_divisible(x, int(s)), floor) for x in imgsz]
    if new_size != imgsz:
        LOGGER.warning(f"WARNING ⚠️ --img-size {imgsz} must be multiple of max stride {s}, updating to {new_size}")
    return new_size


def check_suffix(file: str, suffix: tuple[str, ...], msg: str = "") -> None:
    """Raise a clear error when a file does not end with one of the expected suffixes."""
    from pathlib import Path

    from utils.errors import UserError

    for f in [file] if isinstance(file, str) else file:
        s = Path(f).suffix.lower()
        if s and s not in suffix:
            raise UserError(f"{msg}{f} has suffix '{s}', expected one of {suffix}")


MAX_IMAGE_SIZE = 16384  # pixels per side; far above any YOLOv5 use, low enough to fail before allocating terabytes


@dataclass(frozen=True)
class Bound:
    """The values a numeric flag accepts: an integer or real in [low, high], plus special values with a meaning."""

    low: float | None = None
    high: float | None = None
    integer: bool = True
    special: tuple[tuple[float, str], ...] = ()  # (value, meaning), e.g. (-1, "AutoBatch")

    def accepts(self, v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral if self.integer else numbers.Real):
            return False
        if any(v == s for s, _ in self.special):
            return True
        return math.isfinite(v) and (self.low is None or v >= self.low) and (self.high is None or v <= self.high)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            s = f"{kind} in [{_num(self.low)}, {_num(self.high)}]"
        else:
            s = f"{kind} >= {_num(self.low)}" if self.low is not None else kind
        return s + "".join(f" (or {_num(v)} for {meaning})" for v, meaning in self.special)


def _num(x: float) -> str:
    """A limit as the user would type it: 4294967295, 0.5."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


PROBABILITY = Bound(0, 1, integer=False)
IMAGE_SIDE = Bound(1, MAX_IMAGE_SIZE)
ARG_BOUNDS: dict[str, Bound] = {  # every numeric flag of train/val/detect/export/benchmarks, by its argparse dest
    "batch_size": Bound(1), "epochs": Bound(1), "workers": Bound(0), "max_det": Bound(1),
    "line_thickness": Bound(1, 1000, special=((0, "a width from the image size"),)),
    "vid_stride": Bound(1), "patience": Bound(0), "evolve": Bound(1), "seed": Bound(0, 2**32 - 1),
    "freeze": Bound(0), "classes": Bound(0), "runs": Bound(1), "threads": Bound(1), "val_images": Bound(0),
    "conf_thres": PROBABILITY, "iou_thres": PROBABILITY, "label_smoothing": PROBABILITY,
    "imgsz": IMAGE_SIDE, "val_imgsz": IMAGE_SIDE,
}
LIST_ARGS = {"freeze", "classes", "imgsz"}  # flags that take several values (nargs='+')


def check_args(args: dict, special: dict[str, tuple[tuple[float, str], ...]] | None = None,
               bounds: dict[str, Bound] | None = None, python: bool = False) -> None:
    """Refuse any numeric argument outside its range in one UserError naming the flag, before anything runs.

    args: a script's vars(opt) (or run() keyword arguments); keys without a bound and None values are skipped.
    special: extra values a script gives a meaning, e.g. train.py's {'batch_size': ((-1, 'AutoBatch'),)}.
    bounds: bounds of a Python API's own arguments (over ARG_BOUNDS); python: name them `key=`, not `--key`."""
    from utils.errors import UserError

    known = {**ARG_BOUNDS, **(bounds or {})}
    for key, value in args.items():
        if key not in known or value is None:
            continue
        bound = known[key]
        if special and key in special:
            bound = Bound(bound.low, bound.high, bound.integer, bound.special + special[key])
        flag = f"{key}=" if python else "--" + key.replace("_", "-")
        listed = key in LIST_ARGS and isinstance(value, Iterable) and not isinstance(value, str)
        values = list(value) if listed else [value]
        if key == "imgsz" and not 1 <= len(values) <= 2:
            raise UserError(f"{flag.rstrip('=')} takes 1 or 2 values (size, or height width), got {len(values)}: "
                            f"{' '.join(map(str, values))}")
        for v in values:
            if not bound.accepts(v):
                raise UserError(f"{flag}{'' if python else ' '}{v} is invalid: it must be {bound.describe()}")


def check_freeze(freeze: list[int], n_layers: int) -> None:
    """Refuse a --freeze that reaches past the model's layers or leaves nothing to train, in one line with the layer
    count (YOLOv5's rule: one value N freezes layers 0..N-1, several values freeze exactly those layers)."""
    from utils.errors import UserError

    flag = f"--freeze {' '.join(map(str, freeze))}"
    if len(freeze) == 1 and freeze[0] >= n_layers:
        raise UserError(f"{flag} freezes the first {freeze[0]} layers, but the model has {n_layers} (0-{n_layers - 1}) "
                        f"and nothing would be left to train; give at most {n_layers - 1}")
    beyond = [i for i in freeze if i >= n_layers] if len(freeze) > 1 else []
    if beyond:
        raise UserError(f"{flag}: layer {beyond[0]} is beyond the model's {n_layers} layers (0-{n_layers - 1})")
    if len(freeze) > 1 and set(freeze) >= set(range(n_layers)):
        raise UserError(f"{flag} freezes all {n_layers} layers of the model; nothing would be left to train")


IMSHOW_PROBE = ("import cv2, numpy as np; cv2.imshow('test', np.zeros((8, 8, 3), np.uint8)); cv2.waitKey(1); "
                "cv2.destroyAllWindows()")


def check_imshow(warn: bool = False) -> bool:
    """True when OpenCV can open a window here. Tried in a child process: OpenCV's GUI build (opencv-python) aborts
    the whole process (a Qt core dump) when there is no display, the headless build raises."""
    if sys.platform.startswith("linux") and not (os.getenv("DISPLAY") or os.getenv("WAYLAND_DISPLAY")):
        reason = "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    else:
        try:
            failed = subprocess.run([sys.executable, "-c", IMSHOW_PROBE], capture_output=True, timeout=60).returncode
        except subprocess.TimeoutExpired:
            failed = True
        reason = "OpenCV cannot open a window (headless OpenCV, or the display refused it)" if failed else ""
    if reason and warn:
        LOGGER.warning(f"WARNING ⚠️ --view-img is ignored: {reason}")
    return not reason


def bool_flag(v: str | bool) -> bool:
    """argparse type of YOLOv5's optional boolean flags (`--verbose`, `--pretrained`): 'False', '0', 'no' are false,
    so `--pretrained False` means what it says (a bare string would be truthy)."""
    if isinstance(v, bool):
        return v
    if v.lower() in ("1", "true", "yes", "y", "on"):
        return True
    if v.lower() in ("0", "false", "no", "n", "off"):
        return False
    import argparse

    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got '{v}'")
