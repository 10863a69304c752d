"""ClearML: a task per training (YOLOv5's project and task naming), hyperparameters and options, scalars per epoch,
batch and prediction images as debug samples, result plots, best.pt/last.pt as artifacts. CLEARML_OFFLINE_MODE=1
records the session locally (clearml's own switch)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from utils.loggers.base import (PREDICTION_IMAGES, ExperimentTracker, FreshFiles, checkpoints, env_flag, flat_options,
                                project_name, run_images)

DEBUG_SAMPLES = ("train_batch*.jpg", PREDICTION_IMAGES)
PING_TIMEOUT = 10  # seconds; ClearML itself retries an unreachable server for hours (240 retries, up to 120 s apart)


def clearml_configured() -> bool:
    """clearml-init was run (a clearml.conf), the server is named in the environment, or offline mode is on."""
    conf = Path(os.getenv("CLEARML_CONFIG_FILE") or Path.home() / "clearml.conf")
    return env_flag("CLEARML_OFFLINE_MODE", False) or bool(os.getenv("CLEARML_API_HOST")) or conf.is_file()


def split_key(key: str) -> tuple[str, str]:
    """'train/box_loss' -> ClearML's (title, series) = ('train', 'box_loss'), as YOLOv5 splits them."""
    title, _, series = key.partition("/")
    return (title, series) if series else (key, key)


def check_server(host: str, timeout: float = PING_TIMEOUT) -> None:
    """Raise ConnectionError when the ClearML API server does not answer (any HTTP answer, even 401, will do)."""
    try:
        urllib.request.urlopen(f"{host}/debug.ping", timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as e:
        raise ConnectionError(f"ClearML server {host} does not answer ({getattr(e, 'reason', e)})") from e


class ClearmlLogger(ExperimentTracker):
    title = "ClearML"

    def __init__(self, opt):
        super().__init__(opt)
        self.task = None
        self.fresh = FreshFiles()

    def on_pretrain_routine_end(self, trainer) -> None:
        from clearml import Task

        if env_flag("CLEARML_OFFLINE_MODE", False):
            Task.set_offline(True)
        else:
            from clearml.backend_api import Session

            check_server(Session.get_api_server_host())
        opt = self.opt
        self.task = Task.init(project_name=project_name(opt, "YOLOv5"),
                              task_name=opt.name if opt.name != "exp" else "Training", tags=["YOLOv5"],
                              output_uri=True, reuse_last_task_id=bool(getattr(opt, "exist_ok", False)),
                              auto_connect_frameworks=False)  # scalars and images are reported below; binding
        # frameworks would import TensorFlow (installed for exports: 20-30 s) and log the TensorBoard scalars twice
        self.task.connect(dict(trainer.hyp), name="Hyperparameters")
        self.task.connect(flat_options(opt), name="Args")

    def on_fit_epoch_end(self, trainer) -> None:
        logger = self.task.get_logger()
        for k, v in trainer.metrics.items():
            logger.report_scalar(*split_key(k), v, iteration=trainer.epoch)
        if trainer.plots:
            samples = sorted(f for pattern in DEBUG_SAMPLES for f in trainer.save_dir.glob(pattern))
            for f in self.fresh(samples):
                logger.report_image("Debug Samples", f.stem, iteration=trainer.epoch, local_path=str(f))

    def on_model_save(self, trainer) -> None:
        if self.save_period_due(trainer):
            self.task.upload_artifact("last.pt", artifact_object=str(trainer.last), wait_on_upload=True)

    def on_train_end(self, trainer) -> None:
        if trainer.plots:
            logger = self.task.get_logger()
            for f in run_images(trainer.save_dir):
                logger.report_image("Results", f.name, iteration=trainer.epoch, local_path=str(f))
        for f in checkpoints(trainer):
            self.task.upload_artifact(f.name, artifact_object=str(f), wait_on_upload=True)
        self.close()

    def close(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            task.close()
