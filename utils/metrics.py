"""YOLOv5's `utils.metrics` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

from utils.boxes import bbox_iou, box_iou  # noqa: F401
from utils.evaluation.metrics import ConfusionMatrix, ap_per_class, compute_ap, fitness, smooth  # noqa: F401
