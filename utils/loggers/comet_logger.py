"""Comet: an experiment per training, hyperparameters and options, metrics per epoch, result images, best.pt/last.pt
as model files. YOLOv5's variables: COMET_MODE (online, offline; disabled turns Comet off), COMET_MODEL_NAME,
COMET_UPLOAD_DATASET, COMET_LOG_CONFUSION_MATRIX, COMET_LOG_PREDICTIONS, COMET_MAX_IMAGE_UPLOADS; comet's own
COMET_API_KEY, COMET_PROJECT_NAME, COMET_WORKSPACE and COMET_OFFLINE_DIRECTORY apply as usual."""

from __future__ import annotations

import os
from pathlib import Path

from utils.loggers.base import (PREDICTION_IMAGES, ExperimentTracker, checkpoints, dataset_files, env_flag,
                                flat_options, project_name, run_images)


def comet_mode() -> str:
    return os.getenv("COMET_MODE", "online").strip().lower()


class CometLogger(ExperimentTracker):
    title = "Comet"

    def __init__(self, opt):
        super().__init__(opt)
        self.experiment = None
        self.model_name = os.getenv("COMET_MODEL_NAME", "yolov5")

    def on_pretrain_routine_end(self, trainer) -> None:
        import comet_ml

        kwargs = dict(project_name=os.getenv("COMET_PROJECT_NAME") or project_name(self.opt, "yolov5"),
                      log_code=False, log_env_gpu=True, log_env_cpu=True)
        offline = comet_mode() == "offline"
        self.experiment = comet_ml.OfflineExperiment(**kwargs) if offline else comet_ml.Experiment(**kwargs)
        if not self.experiment.alive:  # Comet prints its own error and would drop every call silently
            raise ConnectionError("no connection to the Comet server, the experiment is not recorded")
        self.experiment.set_name(Path(trainer.save_dir).name)
        self.experiment.log_other("Created from", "YOLOv5")
        self.experiment.log_parameters(trainer.hyp)
        self.experiment.log_parameters(flat_options(self.opt), prefix="opt")
        if env_flag("COMET_UPLOAD_DATASET", False):
            for f, name in dataset_files(trainer.data, ("train", "val")):
                self.experiment.log_asset(str(f), file_name=name)

    def on_fit_epoch_end(self, trainer) -> None:
        self.experiment.log_metrics(trainer.metrics, epoch=trainer.epoch, step=trainer.epoch)

    def on_model_save(self, trainer) -> None:
        if self.save_period_due(trainer):
            self._log_model(trainer, [trainer.last])

    def on_train_end(self, trainer) -> None:
        if trainer.plots:
            for f in self._images(trainer.save_dir)[:int(os.getenv("COMET_MAX_IMAGE_UPLOADS", 100))]:
                self.experiment.log_image(str(f), name=f.name, step=trainer.epoch)
        self._log_model(trainer, checkpoints(trainer))
        self.close()

    def _images(self, save_dir: Path) -> list[Path]:
        """The run's images less those COMET_LOG_CONFUSION_MATRIX=false / COMET_LOG_PREDICTIONS=false leave out."""
        images = run_images(save_dir)
        if not env_flag("COMET_LOG_CONFUSION_MATRIX", True):
            images = [f for f in images if not f.name.startswith("confusion_matrix")]
        if not env_flag("COMET_LOG_PREDICTIONS", True):
            images = [f for f in images if not f.match(PREDICTION_IMAGES)]
        return images

    def _log_model(self, trainer, files: list[Path]) -> None:
        metadata = {"epoch": trainer.epoch + 1, "fitness_score": trainer.fitness, "best_fitness": trainer.best_fitness}
        for f in files:
            self.experiment.log_model(self.model_name, str(f), file_name=Path(f).name, overwrite=True,
                                      metadata=metadata)

    def close(self) -> None:
        if self.experiment is not None:
            experiment, self.experiment = self.experiment, None
            experiment.end()
