"""train.py end to end on the in-repo coco8 sample at 64 px: outputs, transfer, resume, divergence, DDP, evolve, CLI."""

from __future__ import annotations

import argparse
import os
import re
import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import train as train_module
from engine.detect import build_model
from engine.trainer import Trainer, check_amp, freeze_layers
from tests.data_helpers import Killed, copy_coco8, kill_in_second_epoch
from models.checkpoints import load_checkpoint
from utils.errors import UserError
from utils.files import ROOT, check_yaml
from utils.training.loss import ComputeLoss
from utils.training.run_logger import RESULT_KEYS

TINY = dict(imgsz=64, batch_size=4, workers=0, epochs=1)


@pytest.fixture(scope="module")
def coco8_yaml(tmp_path_factory) -> Path:
    """A writeable copy of data/coco8 with its YAML, so label caches land in tmp."""
    root = copy_coco8(tmp_path_factory.mktemp("data"))
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    f = root.parent / "coco8.yaml"
    f.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": names}))
    return f




def _run(data: Path, project: Path, **kwargs) -> argparse.Namespace:
    options = {"data": str(data), "cfg": "yolov5n-ghostdyn.yaml", "weights": "", "project": str(project),
               "name": "exp", **TINY, **kwargs}
    return train_module.run(**options)


def _epochs(run_dir: Path) -> list[int]:
    return pd.read_csv(run_dir / "results.csv", skipinitialspace=True)["epoch"].tolist()


def test_ghost_model_trains_and_writes_the_run_folder(coco8_yaml, tmp_path):
    opt = _run(coco8_yaml, tmp_path)
    run_dir = Path(opt.save_dir)
    assert run_dir == tmp_path / "exp"
    for f in ("weights/best.pt", "weights/last.pt", "results.csv", "results.png", "hyp.yaml", "opt.yaml",
              "labels.jpg", "train_batch0.jpg", "confusion_matrix.png"):
        assert (run_dir / f).is_file(), f
    header = (run_dir / "results.csv").read_text().splitlines()[0]
    assert [c.strip() for c in header.split(",")] == ["epoch", *RESULT_KEYS]
    assert _epochs(run_dir) == [0]
    ckpt = load_checkpoint(run_dir / "weights/best.pt")
    assert ckpt["epoch"] == -1 and ckpt["optimizer"] is None  # stripped at the end
    assert ckpt["model"].yaml["backbone"][2][2] == "C3_GhostModule"
    assert ckpt["model"].names[0] == "person" and next(ckpt["model"].parameters()).dtype == torch.float16
    hyp = yaml.safe_load((run_dir / "hyp.yaml").read_text())  # as given; the model keeps YOLOv5's scaled gains
    assert yaml.safe_load((run_dir / "opt.yaml").read_text())["hyp"] == hyp and (hyp["obj"], hyp["cls"]) == (1.0, 0.5)
    gains = ckpt["model"].hyp["obj"], ckpt["model"].hyp["cls"]
    assert gains == (1.0 * ((64 / 640) ** 2 * 3 / 3), 0.5 * (80 / 80 * 3 / 3))


def test_weights_transfer_into_the_ghost_model(yolov5n_pt, log_lines):
    opt = argparse.Namespace(cfg=check_yaml("yolov5n-ghostdyn.yaml"), weights=str(yolov5n_pt), resume=False)
    model, ckpt = build_model(opt, 80, {}, torch.device("cpu"))
    match = re.search(r"Transferred (\d+)/(\d+) items from", "\n".join(log_lines))
    source = ckpt["model"].float().state_dict()
    same = [k for k, v in model.state_dict().items() if k in source and source[k].shape == v.shape
            and torch.equal(v, source[k]) and "anchors" not in k]  # --cfg anchors are the cfg's own
    assert match and int(match.group(1)) == len(same) and int(match.group(2)) == len(model.state_dict())
    for key in ("model.0.conv.weight", "model.2.cv1.conv.weight", "model.2.cv3.bn.running_mean",
                "model.9.cv2.conv.weight", "model.24.m.2.bias"):
        assert key in same, key
    assert not any(".primary_conv." in k or ".cheap_operation." in k for k in same)  # new Ghost layers


def test_killed_run_resumes_with_every_epoch_once(coco8_yaml, tmp_path, monkeypatch):
    original = kill_in_second_epoch(monkeypatch)
    with pytest.raises(Killed):
        _run(coco8_yaml, tmp_path, cfg="yolov5n.yaml", epochs=3, noplots=True)
    run_dir = tmp_path / "exp"
    last = run_dir / "weights/last.pt"
    assert load_checkpoint(last)["epoch"] == 0 and _epochs(run_dir) == [0]
    with open(run_dir / "results.csv", "a") as f:  # a row of the epoch in flight, written just before the kill
        f.write(",".join(["1"] + ["0.5"] * len(RESULT_KEYS)) + "\n")
    monkeypatch.setattr(Trainer, "train_epoch", original)
    train_module.run(resume=str(last))
    assert _epochs(run_dir) == [0, 1, 2]
    assert load_checkpoint(last)["epoch"] == -1


def test_non_finite_loss_stops_with_epoch_and_batch(coco8_yaml, tmp_path, monkeypatch):
    original = ComputeLoss.__call__

    def nan_loss(self, preds, targets):
        loss, items = original(self, preds, targets)
        return loss * float("nan"), items * float("nan")

    monkeypatch.setattr(ComputeLoss, "__call__", nan_loss)
    with pytest.raises(UserError, match=r"epoch 0, batch 0"):
        _run(coco8_yaml, tmp_path, cfg="yolov5n.yaml", noplots=True)
    assert not (tmp_path / "exp/weights/best.pt").exists()


def test_evolve_records_generations(coco8_yaml, tmp_path):
    opt = _run(coco8_yaml, tmp_path, cfg="yolov5n.yaml", evolve=1, name="evo")
    run_dir = Path(opt.save_dir)
    assert (run_dir / "hyp_evolve.yaml").is_file() and (run_dir / "evolve.png").is_file()
    data = pd.read_csv(run_dir / "evolve.csv", skipinitialspace=True)
    assert len(data) == 1 and "metrics/mAP_0.5" in data.columns and "lr0" in data.columns
    assert not (run_dir / "weights").exists()  # evolution saves no checkpoints


def test_two_process_gloo_ddp(coco8_yaml, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "train.py"), "--data", str(coco8_yaml), "--cfg", "yolov5n.yaml", "--weights", "",
           "--img", "64", "--batch", "4", "--epochs", "1", "--workers", "0", "--device", "cpu", "--noplots",
           "--project", str(tmp_path), "--name", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert _epochs(tmp_path / "ddp") == [0]
    assert (tmp_path / "ddp/weights/best.pt").is_file()
    assert p.stdout.count("Starting training for 1 epochs") == 1  # only rank 0 logs


def test_cli_error_is_one_line_from_any_folder(coco8_yaml, tmp_path):
    cmd = [sys.executable, str(ROOT / "train.py"), "--data", str(coco8_yaml), "--weights", "missing.pt",
           "--img", "64", "--project", str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 2
    assert "ERROR:" in p.stderr and "missing.pt" in p.stderr and "Traceback" not in p.stderr


def test_defaults_match_yolov5(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py"])
    opt = train_module.parse_opt()
    assert Path(opt.weights).name == "yolov5s.pt" and opt.cfg == "" and Path(opt.data).name == "coco128.yaml"
    assert Path(opt.hyp).name == "hyp.scratch-low.yaml"
    assert (opt.epochs, opt.batch_size, opt.imgsz, opt.workers, opt.patience, opt.seed) == (100, 16, 640, 8, 100, 0)
    assert (opt.optimizer, opt.freeze, opt.save_period, opt.label_smoothing) == ("SGD", [0], -1, 0.0)
    assert Path(opt.project).resolve() == ROOT / "runs/train" and opt.name == "exp"
    assert Path(opt.evolve_population).resolve() == ROOT / "data/hyps" and opt.resume_evolve is None
    assert (opt.bucket, opt.entity, opt.upload_dataset, opt.bbox_interval, opt.artifact_alias) == ("", None, False, -1,
                                                                                                   "latest")
    monkeypatch.setattr(sys, "argv", ["train.py", "--resume", "--evolve", "--cache", "--upload_dataset"])
    opt = train_module.parse_opt()
    assert (opt.resume, opt.evolve, opt.cache, opt.upload_dataset) == (True, 300, "ram", True)


def test_logger_flags_are_accepted_with_one_note(log_lines):
    if any(importlib.util.find_spec(m) for m in ("wandb", "clearml", "comet_ml")):
        pytest.skip("a logger is installed: the flags are not ignored")
    opt = train_module.parse_opt(args=["--entity", "team", "--bbox_interval", "5", "--upload_dataset", "val"])
    train_module.note_logger_flags(opt)
    notes = [line for line in log_lines if "--entity" in line]
    assert notes == ["--entity, --upload_dataset, --bbox_interval: options of the Weights & Biases / ClearML / Comet "
                     "loggers, none of which is installed; ignored"]


def test_amp_is_off_on_cpu():
    assert check_amp(torch.nn.Conv2d(3, 3, 1), torch.device("cpu"), 64) is False


def test_freeze_first_layers():
    from models.yolo import Model

    model = Model("yolov5n.yaml")
    freeze_layers(model, [2])
    frozen = {n.split(".")[1] for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"0", "1"}
    freeze_layers(model, [0])
    assert all(p.requires_grad for p in model.parameters())


def test_optional_training_flags(coco8_yaml, tmp_path):
    opt = _run(coco8_yaml, tmp_path, cfg="yolov5n.yaml", single_cls=True, multi_scale=True,
               image_weights=True, cos_lr=True, label_smoothing=0.1, freeze=[3], optimizer="AdamW", save_period=1,
               noplots=True)
    weights = Path(opt.save_dir) / "weights"
    assert sorted(f.name for f in weights.iterdir()) == ["best.pt", "epoch0.pt", "last.pt"]
    model = load_checkpoint(weights / "best.pt")["model"]
    assert model.nc == 1 and model.names == {0: "item"}
    opt = _run(coco8_yaml, tmp_path, cfg="yolov5n.yaml", name="quad", quad=True, rect=True, cache="ram",
               optimizer="Adam", noautoanchor=True, noplots=True)
    assert _epochs(Path(opt.save_dir)) == [0]
