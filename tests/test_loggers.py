"""Experiment trackers driven through their hooks by a stand-in trainer, recorded offline and read back through each
tool's own files or client: the metric series equal the results.csv fed in, the artifacts are best.pt and last.pt."""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import importlib.util
import json
import struct
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from utils.callbacks import Callbacks
from utils.loggers import experiment_loggers
from utils.loggers.base import ExperimentTracker
from utils.training.run_logger import RESULT_KEYS, RunLogger

EPOCHS = 3


def needs(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install -r requirements-loggers.txt)")


def train_opt(**kw) -> argparse.Namespace:
    """YOLOv5's train options that the trackers read."""
    opt = dict(project="runs/train", name="exp", entity=None, upload_dataset=False, bbox_interval=-1,
               artifact_alias="latest", epochs=EPOCHS, evolve=None, save_period=-1, exist_ok=False,
               data="coco8.yaml", imgsz=160, batch_size=2, hyp={"lr0": 0.01})
    return argparse.Namespace(**{**opt, **kw})


def results_csv(save_dir: Path) -> pd.DataFrame:
    """A results.csv of EPOCHS rows written by the run logger, read back as a training's metrics."""
    logger = RunLogger(save_dir, plots=False, tensorboard=False)
    rng = np.random.default_rng(0)
    for epoch in range(EPOCHS):
        logger.log_epoch(epoch, [float(x) for x in rng.uniform(0.01, 1.0, len(RESULT_KEYS))])
    df = pd.read_csv(save_dir / "results.csv")
    return df.rename(columns=lambda c: c.strip())


def fake_trainer(tmp_path: Path, opt: argparse.Namespace) -> types.SimpleNamespace:
    save_dir = tmp_path / "runs" / "train" / "exp"
    (save_dir / "weights").mkdir(parents=True)
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    (tmp_path / "data" / "labels").mkdir()
    for i in range(2):
        (images / f"im{i}.jpg").write_bytes(b"\xff\xd8jpeg" + bytes([i]))
        (tmp_path / "data" / "labels" / f"im{i}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return types.SimpleNamespace(
        opt=opt, hyp={"lr0": 0.01, "momentum": 0.937}, save_dir=save_dir, epoch=-1, metrics={}, best_fitness=0.0,
        fitness=0.0, last=save_dir / "weights" / "last.pt", best=save_dir / "weights" / "best.pt", task_name="detect",
        data={"train": str(images), "val": str(images), "nc": 1, "names": {0: "item"}}, names={0: "item"}, plots=True)


def drive(trackers: list, trainer, df: pd.DataFrame) -> None:
    """The engine's hook sequence through utils/callbacks.py: set-up, a fit-epoch-end and a model-save per results.csv
    row (last.pt every epoch, best.pt when fitness improved), the end, teardown."""
    callbacks = Callbacks()
    for t in trackers:
        callbacks.register(t)
    callbacks.run("on_pretrain_routine_end", trainer)
    for _, row in df.iterrows():
        trainer.epoch = int(row["epoch"])
        trainer.metrics = {k: float(row[k]) for k in RESULT_KEYS}
        trainer.fitness = 0.1 * trainer.metrics["metrics/mAP_0.5"] + 0.9 * trainer.metrics["metrics/mAP_0.5:0.95"]
        improved = trainer.fitness >= trainer.best_fitness
        trainer.best_fitness = max(trainer.best_fitness, trainer.fitness)
        (trainer.save_dir / "val_batch0_pred.jpg").write_bytes(_png())
        callbacks.run("on_fit_epoch_end", trainer)
        trainer.last.write_bytes(f"last {trainer.epoch}".encode())
        if improved:
            trainer.best.write_bytes(f"best {trainer.epoch}".encode())
        callbacks.run("on_model_save", trainer)
    (trainer.save_dir / "results.png").write_bytes(_png())
    callbacks.run("on_train_end", trainer)
    callbacks.run("teardown", trainer)


def _png() -> bytes:
    import cv2

    return cv2.imencode(".png", np.full((8, 8, 3), 127, np.uint8))[1].tobytes()


def csv_series(df: pd.DataFrame, key: str) -> list[float]:
    return [float(x) for x in df[key]]


def wandb_records(path: Path):
    """The protobuf records of an offline run's .wandb file (a LevelDB-style log of 32 KiB blocks after a 7-byte
    ':W&B' header)."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, buf = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # too little room left in the block for a record header: padding
            pos += block - pos % block
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            break
        buf, pos = buf + data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):  # FULL or LAST piece of a record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            buf = b""
            yield record


def finished_wandb_records(path: Path, timeout: float = 30.0) -> list:
    """The records of an offline run once wandb's service has written its exit record (it writes after finish())."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(wandb_records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def test_wandb_offline(tmp_path, monkeypatch):
    needs("wandb")
    for k in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(k, str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    opt = train_opt(project="runs/train", name="exp", upload_dataset="val", artifact_alias="v5", bbox_interval=2)
    trainer = fake_trainer(tmp_path, opt)
    df = results_csv(trainer.save_dir)
    trackers = [t for t in experiment_loggers(opt) if t.title == "wandb"]
    drive(trackers, trainer, df)
    assert trackers[0].active
    (run_file,) = glob.glob(str(tmp_path / "wandb_home" / "wandb" / "offline-run-*" / "run-*.wandb"))
    history, artifacts, run = {}, [], None
    for r in finished_wandb_records(Path(run_file)):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            items = {i.key or "/".join(i.nested_key): i.value_json for i in r.history.item}
            history.setdefault(int(items["_step"]), {}).update(items)
        elif kind == "artifact":
            artifacts.append(r.artifact)
        elif kind == "run":
            run = r.run
    assert run.project == "YOLOv5" and run.job_type == "Training"
    for key in RESULT_KEYS:
        assert [json.loads(history[e][key]) for e in range(EPOCHS)] == csv_series(df, key)
    boxes = [e for e in range(EPOCHS) if "Bounding Box Debugger/Images/count" in history[e]]
    assert boxes == [1]  # --bbox_interval 2: epochs 2, 4, ... (1-based)
    assert set(json.loads(history[EPOCHS - 1]["Results/captions"])) == {"results.png", "val_batch0_pred.jpg"}
    models = [a for a in artifacts if a.type == "model"]
    datasets = [a for a in artifacts if a.type == "dataset"]
    assert len(models) == 1 and {"best", "latest", "v5"} <= set(models[0].aliases)
    files = {c.path: c.digest for c in models[0].manifest.contents}
    assert files == {f.name: base64.b64encode(hashlib.md5(f.read_bytes()).digest()).decode()
                     for f in (trainer.best, trainer.last)}  # W&B's digest: base64 of the file's MD5
    assert len(datasets) == 1 and datasets[0].name == "coco8_val"
    assert {c.path for c in datasets[0].manifest.contents} == {"val/images/im0.jpg", "val/images/im1.jpg",
                                                               "val/labels/im0.txt", "val/labels/im1.txt"}


def test_comet_offline(tmp_path, monkeypatch):
    needs("comet_ml")
    monkeypatch.setenv("COMET_MODE", "offline")
    monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(tmp_path / "comet"))
    monkeypatch.setenv("COMET_MODEL_NAME", "yolov5-test")
    monkeypatch.setenv("COMET_ERROR_TRACKING_ENABLE", "false")  # no error reports to Comet's servers from a test
    opt = train_opt(save_period=1)
    trainer = fake_trainer(tmp_path, opt)
    df = results_csv(trainer.save_dir)
    trackers = [t for t in experiment_loggers(opt) if t.title == "Comet"]
    drive(trackers, trainer, df)
    assert trackers[0].active
    (archive,) = glob.glob(str(tmp_path / "comet" / "*.zip"))
    with zipfile.ZipFile(archive) as z:
        messages = [json.loads(line) for line in z.read("messages.json").decode().splitlines()]
        metrics, uploads = {}, []
        for m in messages:
            if m["type"] == "metric_msg":
                metric = m["payload"]["metric"]
                metrics.setdefault(metric["metricName"], {})[metric["step"]] = metric["metricValue"]
            elif m["type"] == "file_upload":
                p = m["payload"]
                uploads.append((p["upload_type"], p["additional_params"], z.read(p["file_path"])))
    for key in RESULT_KEYS:
        assert [metrics[key][e] for e in range(EPOCHS)] == csv_series(df, key)
    models = [(a["fileName"], a["groupingName"], content) for kind, a, content in uploads if kind == "model-element"]
    # --save-period 1: last.pt after epochs 1 and 2 (not the final one), then best.pt and last.pt at the end
    assert models == [("last.pt", "yolov5-test", b"last 0"), ("last.pt", "yolov5-test", b"last 1"),
                      ("best.pt", "yolov5-test", trainer.best.read_bytes()), ("last.pt", "yolov5-test", b"last 2")]
    assert {a["figName"] for kind, a, _ in uploads if kind == "visualization"} == {"results.png", "val_batch0_pred.jpg"}


def test_clearml_offline(tmp_path, monkeypatch):
    needs("clearml")
    monkeypatch.setenv("CLEARML_OFFLINE_MODE", "1")
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path / "clearml"))
    conf = tmp_path / "clearml.conf"  # in-process reporting: a reporting subprocess costs ~10 s to shut down
    conf.write_text("sdk { development { report_use_subprocess: false } }\n")
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(conf))
    opt = train_opt(project=str(tmp_path / "myproject"), name="run1")
    trainer = fake_trainer(tmp_path, opt)
    df = results_csv(trainer.save_dir)
    trackers = [t for t in experiment_loggers(opt) if t.title == "ClearML"]
    assert trackers, "CLEARML_OFFLINE_MODE=1 turns ClearML on without a clearml.conf"
    drive(trackers, trainer, df)
    assert trackers[0].active
    (session,) = [p for p in (tmp_path / "clearml" / "offline").iterdir() if p.is_dir()]
    task = json.loads((session / "task.json").read_text())
    assert task["name"] == "run1" and task["tags"] == ["YOLOv5"]
    assert task["hyperparams"]["Hyperparameters"]["momentum"]["value"] == "0.937"
    events = [e for line in (session / "metrics.jsonl").read_text().splitlines() for e in json.loads(line)]
    scalars = {}
    for e in events:
        if e["type"] == "training_stats_scalar":
            scalars.setdefault(f"{e['metric']}/{e['variant']}", {})[e["iter"]] = e["value"]
    for key in RESULT_KEYS:
        assert [scalars[key][e] for e in range(EPOCHS)] == csv_series(df, key)
    images = {(e["metric"], e["variant"]) for e in events if e["type"] == "training_debug_image"}
    assert {("Debug Samples", "val_batch0_pred"), ("Results", "results.png")} <= images
    artifacts = {a["key"]: Path(a["uri"]).read_bytes() for a in task["execution"]["artifacts"]}
    assert artifacts == {"best.pt": trainer.best.read_bytes(), "last.pt": trainer.last.read_bytes()}


def test_mlflow_file_store(tmp_path, monkeypatch):
    needs("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())  # a local store without a database
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for this to use a file store
    monkeypatch.setenv("YOLOv5_MLFLOW", "true")
    opt = train_opt()
    trainer = fake_trainer(tmp_path, opt)
    df = results_csv(trainer.save_dir)
    trackers = [t for t in experiment_loggers(opt) if t.title == "MLflow"]
    drive(trackers, trainer, df)
    assert trackers[0].active
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name("YOLOv5")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "exp" and run.info.status == "FINISHED"
    assert run.data.params["lr0"] == "0.01" and run.data.params["imgsz"] == "160"
    for key in RESULT_KEYS:
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == list(range(EPOCHS))
        assert [m.value for m in history] == csv_series(df, key)
    weights = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "weights")}
    assert weights == {"best.pt", "last.pt"}
    local = Path(client.download_artifacts(run.info.run_id, "weights/best.pt", str(tmp_path / "dl")))
    assert local.read_bytes() == trainer.best.read_bytes()
    assert {"results.csv", "results.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert (tmp_path / "mlruns").is_dir()


class Exploding(ExperimentTracker):
    title = "Exploding"

    def __init__(self, opt):
        super().__init__(opt)
        self.calls, self.closed = 0, 0

    def on_fit_epoch_end(self, trainer) -> None:
        self.calls += 1
        raise ConnectionError("server gone\nsecond line of a long message")

    def close(self) -> None:
        self.closed += 1


def test_failing_tracker_warns_once_and_turns_off(tmp_path, log_lines):
    opt = train_opt()
    trainer = fake_trainer(tmp_path, opt)
    tracker = Exploding(opt)
    drive([tracker], trainer, results_csv(trainer.save_dir))
    assert tracker.calls == 1 and not tracker.active and tracker.closed == 1
    warnings = [line for line in log_lines if "Exploding" in line]
    assert len(warnings) == 1
    assert ("WARNING ⚠️ on_fit_epoch_end failed (ConnectionError: server gone); Exploding logging is off for the "
            "rest of this run, training goes on") in warnings[0]


def test_comet_without_api_key_warns_and_training_goes_on(tmp_path, monkeypatch, log_lines):
    needs("comet_ml")
    monkeypatch.delenv("COMET_MODE", raising=False)
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    monkeypatch.setenv("COMET_CONFIG", str(tmp_path / "no.comet.config"))
    monkeypatch.setenv("COMET_ERROR_TRACKING_ENABLE", "false")
    opt = train_opt()
    trainer = fake_trainer(tmp_path, opt)
    trackers = [t for t in experiment_loggers(opt) if t.title == "Comet"]
    drive(trackers, trainer, results_csv(trainer.save_dir))
    assert not trackers[0].active
    warnings = [line for line in log_lines if "WARNING" in line and "Comet" in line]
    assert len(warnings) == 1 and "on_pretrain_routine_end failed (ValueError: " in warnings[0]


def test_evolve_and_other_ranks_have_no_trackers(monkeypatch):
    assert experiment_loggers(train_opt(evolve=300)) == []
    monkeypatch.setenv("RANK", "1")
    assert experiment_loggers(train_opt()) == []


def test_switches_turn_trackers_off(monkeypatch, tmp_path):
    for k, v in {"WANDB_MODE": "disabled", "COMET_MODE": "disabled", "YOLOv5_MLFLOW": "false"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)
    monkeypatch.delenv("CLEARML_API_HOST", raising=False)
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(tmp_path / "none.conf"))
    assert experiment_loggers(train_opt()) == []


def closed_port_url() -> str:
    """http://127.0.0.1:<a port nothing listens on>: a tracking server that is gone."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_clearml_server_gone_warns_and_training_goes_on(tmp_path, monkeypatch, log_lines):
    needs("clearml")
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)
    monkeypatch.setenv("CLEARML_API_HOST", closed_port_url())
    monkeypatch.setenv("CLEARML_API_ACCESS_KEY", "key")
    monkeypatch.setenv("CLEARML_API_SECRET_KEY", "secret")
    opt = train_opt()
    trainer = fake_trainer(tmp_path, opt)
    trackers = [t for t in experiment_loggers(opt) if t.title == "ClearML"]
    t0 = time.monotonic()
    drive(trackers, trainer, results_csv(trainer.save_dir))
    assert not trackers[0].active and time.monotonic() - t0 < 30  # ClearML alone would retry for hours
    warnings = [line for line in log_lines if "WARNING" in line and "ClearML" in line]
    assert len(warnings) == 1 and "does not answer" in warnings[0]


def test_mlflow_server_gone_warns_and_training_goes_on(tmp_path, monkeypatch, log_lines):
    needs("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", closed_port_url())
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("YOLOv5_MLFLOW", "true")
    opt = train_opt()
    trainer = fake_trainer(tmp_path, opt)
    trackers = [t for t in experiment_loggers(opt) if t.title == "MLflow"]
    drive(trackers, trainer, results_csv(trainer.save_dir))
    assert not trackers[0].active
    warnings = [line for line in log_lines if "WARNING" in line and "MLflow" in line]
    assert len(warnings) == 1 and "on_pretrain_routine_end failed (MlflowException: " in warnings[0]
