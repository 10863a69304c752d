"""YOLOv5's `utils.segment.general` import path: mask geometry, re-exported from utils/masks.py."""

from utils.masks import (crop_mask, mask_iou, masks2segments, masks_iou, process_mask,  # noqa: F401
                         process_mask_native, process_mask_upsample, scale_image)
