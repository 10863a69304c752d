"""YOLOv5's `utils.segment.loss` import path: the segmentation loss under YOLOv5's name."""

from utils.training.seg_loss import SegmentationLoss as ComputeLoss  # noqa: F401
