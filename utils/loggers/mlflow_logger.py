"""MLflow: a run per training (experiment named as YOLOv5 names projects, or MLFLOW_EXPERIMENT_NAME; run named after
the run folder, or MLFLOW_RUN), options and hyperparameters as params, metrics per epoch, the run's plots, results.csv
and best.pt/last.pt as artifacts. MLFLOW_TRACKING_URI names a server; unset, MLflow's local default applies
(./mlflow.db with artifacts under ./mlruns for MLflow 3, a ./mlruns file store for MLflow 2).
MLFLOW_KEEP_RUN_ACTIVE=true leaves the run open at the end; YOLOv5_MLFLOW=false turns MLflow off."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from utils.loggers.base import ExperimentTracker, checkpoints, env_flag, flat_options, project_name

ARTIFACT_FILES = ("*.png", "*.jpg", "*.csv", "*.yaml")
MAX_PARAM_LENGTH = 6000  # MLflow refuses longer parameter values
# Unless set: a server that is gone costs a training ~10 s, not MLflow's default 7 retries with backoff (~250 s)
SERVER_PATIENCE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def metric_key(key: str) -> str:
    """A results.csv column as an MLflow key: characters MLflow refuses become '_'."""
    return re.sub(r"[^\w/.\- :]", "_", key)


class MlflowLogger(ExperimentTracker):
    title = "MLflow"

    def __init__(self, opt):
        super().__init__(opt)
        self.client, self.run_id = None, None

    def on_pretrain_routine_end(self, trainer) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        for k, v in SERVER_PATIENCE.items():
            os.environ.setdefault(k, v)
        self.client = MlflowClient()  # MLFLOW_TRACKING_URI, else MLflow's local default
        name = os.getenv("MLFLOW_EXPERIMENT_NAME") or project_name(self.opt, "YOLOv5")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        run = self.client.create_run(experiment_id, run_name=os.getenv("MLFLOW_RUN") or Path(trainer.save_dir).name)
        self.run_id = run.info.run_id
        options = flat_options(self.opt, trainer.hyp)
        params = [Param(metric_key(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in options.items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def on_fit_epoch_end(self, trainer) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(metric_key(k), float(v), now, trainer.epoch) for k, v in trainer.metrics.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_train_end(self, trainer) -> None:
        for f in checkpoints(trainer):
            self.client.log_artifact(self.run_id, str(f), "weights")
        for f in sorted(f for pattern in ARTIFACT_FILES for f in Path(trainer.save_dir).glob(pattern)):
            self.client.log_artifact(self.run_id, str(f))
        self.close(status="FINISHED")

    def close(self, status: str = "FAILED") -> None:
        """End the run: FINISHED after on_train_end, FAILED when training or this tracker stopped before it."""
        if self.run_id is not None:
            run_id, self.run_id = self.run_id, None
            if not env_flag("MLFLOW_KEEP_RUN_ACTIVE", False):
                self.client.set_terminated(run_id, status=status)
