"""Argument checks that adjust a value with a warning instead of failing later."""

from __future__ import annotations

import math

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
