"""Hyperparameter files (--hyp): every key checked for type and range before anything trains.

A value must be a finite number in its key's range. YAML 1.1 (PyYAML) reads `5e-4` as the string '5e-4'; a string
that is plainly a number ('5e-4', "0.01") is used as that number with a warning naming the key, where YOLOv5 would
fail later inside the loss or torch.optim. Any other string, a list, a boolean or a missing value is one error line
naming the file, the key and the value. An unknown key (often a typo: `mosiac`) is an error too, with the nearest
known key. Modules that read keys of their own (distillation's dist_*) declare them with register_hyps().
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

from utils.checks import Bound
from utils.errors import UserError
from utils.files import check_yaml, yaml_load
from utils.logger import LOGGER

GAIN = Bound(0, None, integer=False)  # a non-negative weight
UNIT = Bound(0, 1, integer=False)  # a probability or a fraction
MOMENTUM = Bound(0, 0.999, integer=False)  # SGD momentum and Adam's beta1 (which must stay below 1)

REQUIRED: dict[str, Bound] = {  # every key train.py reads, in the order of data/hyps/*.yaml
    "lr0": Bound(0, 10, integer=False), "lrf": Bound(0, 10, integer=False), "momentum": MOMENTUM,
    "weight_decay": Bound(0, 1, integer=False), "warmup_epochs": GAIN, "warmup_momentum": MOMENTUM,
    "warmup_bias_lr": Bound(0, 10, integer=False), "box": GAIN, "cls": GAIN, "cls_pw": GAIN, "obj": GAIN,
    "obj_pw": GAIN, "iou_t": UNIT, "anchor_t": Bound(1, None, integer=False), "fl_gamma": GAIN, "hsv_h": UNIT,
    "hsv_s": UNIT, "hsv_v": UNIT, "degrees": Bound(0, 180, integer=False), "translate": UNIT,
    "scale": Bound(0, 0.999, integer=False), "shear": Bound(0, 89, integer=False),
    "perspective": Bound(0, 0.1, integer=False), "flipud": UNIT, "fliplr": UNIT, "mosaic": UNIT, "mixup": UNIT,
    "copy_paste": UNIT,
}
OPTIONAL: dict[str, Bound] = {  # keys YOLOv5 reads when present
    "anchors": Bound(1, 10, integer=False),  # anchors per output layer (--evolve mutates it as a real number)
    "label_smoothing": UNIT,
}
HYP_KEYS = tuple(REQUIRED)


def register_hyps(bounds: dict[str, Bound]) -> None:
    """Declare optional keys that a training add-on reads, so hyp files may set them (checked against their bounds)."""
    OPTIONAL.update(bounds)


def _number(key: str, value: object, source: str) -> float:
    """value as a float; a numeric string converted with a warning, anything else a UserError naming the key."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise UserError(f"{source}: {key}: '{value}' is not a number") from None
        LOGGER.warning(f"WARNING ⚠️ {source}: {key}: '{value}' is a string (quoted, or an exponent without a dot "
                       f"such as 5e-4, which YAML 1.1 does not read as a number), used as the number {number:g}")
        return number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = "nothing" if value is None else f"{value!r} ({type(value).__name__})"
        raise UserError(f"{source}: {key}: {shown} is not a number")
    return float(value)


def check_hyp(hyp: dict, source: str = "hyperparameters") -> dict:
    """The hyperparameters as floats, every required key present and every value in range; else one UserError."""
    known = {**REQUIRED, **OPTIONAL}
    unknown = [k for k in hyp if k not in known]
    missing = [k for k in REQUIRED if k not in hyp]
    if missing:
        typos = "".join(f" ('{k}' is not known: a typo?)" for k in unknown
                        if difflib.get_close_matches(str(k), missing))
        raise UserError(f"{source} lacks the hyperparameter(s) {', '.join(missing)}{typos}; "
                        f"see data/hyps/hyp.scratch-low.yaml for the full set")
    if unknown:
        near = difflib.get_close_matches(str(unknown[0]), known, n=1)
        raise UserError(f"{source}: unknown hyperparameter '{unknown[0]}'" + (
            f", did you mean '{near[0]}'?" if near else f"; known keys are {', '.join(known)}"))
    checked = {}
    for key, value in hyp.items():
        number, bound = _number(key, value, source), known[key]
        if not math.isfinite(number) or not bound.accepts(number):
            raise UserError(f"{source}: {key}: {value} is out of range, it must be {bound.describe()}")
        checked[key] = number
    return checked


def load_hyp(hyp: str | Path | dict) -> dict:
    """Checked hyperparameters from a hyp YAML (or a dict, e.g. a resumed run's)."""
    if isinstance(hyp, dict):
        return check_hyp(dict(hyp))
    return check_hyp(yaml_load(check_yaml(hyp)), str(hyp))
