"""Experiment trackers beside results.csv and TensorBoard: Weights & Biases, ClearML, Comet and MLflow, each a plug-in
of utils/callbacks.py that is on only when its package is installed and it is enabled as its users expect.

The packages are optional (requirements-loggers.txt) and imported by a tracker's first hook, never here, so a plain
install starts as fast as without them. Register on rank 0: `for t in experiment_loggers(opt): callbacks.register(t)`.
"""

from __future__ import annotations

import importlib.util
import os

from utils.distributed import is_main_process
from utils.logger import LOGGER, colorstr
from utils.loggers.base import ExperimentTracker, env_flag
from utils.loggers.clearml_logger import ClearmlLogger, clearml_configured
from utils.loggers.comet_logger import CometLogger, comet_mode
from utils.loggers.mlflow_logger import MlflowLogger
from utils.loggers.wandb_logger import WandbLogger

LOGGERS = ("csv", "tb", "wandb", "clearml", "comet", "mlflow")  # YOLOv5's names; csv and tb: utils/training/run_logger


def installed(package: str) -> bool:
    """Whether a package can be imported, without importing it (importing these costs seconds)."""
    return importlib.util.find_spec(package) is not None


def enabled_trackers() -> list[type[ExperimentTracker]]:
    """The tracker classes whose package is installed and that their users' settings leave on."""
    trackers = []
    if installed("wandb") and os.getenv("WANDB_MODE", "").strip().lower() != "disabled":
        trackers.append(WandbLogger)
    if installed("clearml"):
        if clearml_configured():
            trackers.append(ClearmlLogger)
        else:
            LOGGER.info(f"{colorstr('ClearML: ')}installed but not configured (run clearml-init, or set "
                        f"CLEARML_OFFLINE_MODE=1 to record offline), skipped")
    if installed("comet_ml") and comet_mode() != "disabled":
        trackers.append(CometLogger)
    if installed("mlflow") and env_flag("YOLOv5_MLFLOW", True):
        trackers.append(MlflowLogger)
    return trackers


def experiment_loggers(opt) -> list[ExperimentTracker]:
    """The active trackers for a training with these options: none on ranks other than 0 and with --evolve (YOLOv5
    keeps only results.csv then)."""
    if not is_main_process() or getattr(opt, "evolve", None):
        return []
    trackers = [cls(opt) for cls in enabled_trackers()]
    if trackers:
        LOGGER.info(f"{colorstr('Experiment tracking: ')}{', '.join(t.title for t in trackers)}")
    return trackers
