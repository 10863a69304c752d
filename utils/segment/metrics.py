"""YOLOv5's `utils.segment.metrics` import path: box and mask metrics, re-exported from utils/evaluation/."""

from utils.evaluation.seg_metrics import Metric, Metrics, ap_per_class_box_and_mask  # noqa: F401
from utils.evaluation.seg_metrics import seg_fitness as fitness  # noqa: F401
