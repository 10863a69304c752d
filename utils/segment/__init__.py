"""YOLOv5's `utils.segment` import paths, kept so users' scripts run unchanged; re-exports only, the code lives in
utils/masks.py, utils/evaluation/ and utils/training/."""
