"""YOLOv5's `utils.general` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

import cv2  # noqa: F401  (YOLOv5 users write `from utils.general import cv2`)

from utils.boxes import (clip_boxes, scale_boxes, scale_segments, xywh2xyxy, xywhn2xyxy, xyxy2xywh,  # noqa: F401
                         xyxy2xywhn)
from utils.checks import check_img_size, check_suffix, make_divisible  # noqa: F401
from utils.data.config import check_dataset  # noqa: F401
from utils.files import check_file, check_yaml, increment_path, yaml_load, yaml_save  # noqa: F401
from utils.inference.nms import non_max_suppression  # noqa: F401
from utils.logger import LOGGER, colorstr, print_args  # noqa: F401
from utils.torch_utils import Profile  # noqa: F401


def __getattr__(name: str):
    """strip_optimizer lives in models/checkpoints.py, above utils: looked up on first use, not imported here."""
    if name == "strip_optimizer":
        from models.checkpoints import strip_optimizer

        return strip_optimizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
