"""YOLOv5's utils.segment.* import paths name this project's mask, metric and loss code."""

from __future__ import annotations


def test_utils_segment_paths_re_export_the_project_code():
    from utils import masks
    from utils.evaluation import seg_metrics
    from utils.segment.general import crop_mask, masks2segments, process_mask, process_mask_upsample, scale_image
    from utils.segment.loss import ComputeLoss
    from utils.segment.metrics import Metrics, ap_per_class_box_and_mask, fitness
    from utils.training.seg_loss import SegmentationLoss

    assert (crop_mask, process_mask, process_mask_upsample, scale_image, masks2segments) == (
        masks.crop_mask, masks.process_mask, masks.process_mask_upsample, masks.scale_image, masks.masks2segments)
    assert (Metrics, ap_per_class_box_and_mask, fitness) == (
        seg_metrics.Metrics, seg_metrics.ap_per_class_box_and_mask, seg_metrics.seg_fitness)
    assert ComputeLoss is SegmentationLoss
