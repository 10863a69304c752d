"""YOLOv5's `models.experimental` import path, kept so users' scripts run unchanged; re-exports only, the code lives elsewhere."""

from models.loading import Ensemble, attempt_load  # noqa: F401
