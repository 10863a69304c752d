"""Scoring detections: YOLOv5's metrics, COCO JSON and the figures a run folder gets."""
