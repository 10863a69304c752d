"""engine/: the one training loop drives detection, segmentation and classification Tasks; plug-ins see every hook."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

import train as train_module
from engine.teacher import Distillation
from engine.trainer import result_keys
from engine.classify import ClassifyTask
from engine.detect import DetectTask
from engine.segment import SegmentTask
from models.checkpoints import load_checkpoint
from tests.data_helpers import copy_coco8
from utils.callbacks import HOOKS
from utils.files import ROOT

TINY = dict(imgsz=64, batch_size=4, workers=0, epochs=1, noplots=True)


class Recorder:
    """A plug-in that records the hooks it sees and the metrics of each epoch."""

    def __init__(self):
        self.hooks, self.metrics = [], []

    def __getattr__(self, name):
        if name not in HOOKS:
            raise AttributeError(name)

        def record(trainer):
            self.hooks.append(name)
            if name == "on_fit_epoch_end":
                self.metrics.append(dict(trainer.metrics))
        return record


@pytest.fixture
def coco8_yaml(tmp_path) -> Path:
    root = copy_coco8(tmp_path)
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    f = tmp_path / "coco8.yaml"
    f.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": names}))
    return f


def test_a_plugin_sees_every_hook_in_order_and_the_logged_row(coco8_yaml, tmp_path, monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(train_module, "plugins_from", lambda opt: [rec])
    opt = train_module.run(data=str(coco8_yaml), cfg="yolov5n.yaml", weights="", project=str(tmp_path), **TINY)
    batches = [h for h in rec.hooks if h.startswith("on_train_batch")]
    assert batches == ["on_train_batch_start", "on_train_batch_end"]  # 4 images, batch 4: one batch
    assert [h for h in rec.hooks if not h.startswith("on_train_batch")] == [
        "on_pretrain_routine_start", "on_pretrain_routine_end", "on_train_start", "on_train_epoch_start",
        "on_train_epoch_end", "on_val_start", "on_val_end", "on_fit_epoch_end", "on_model_save", "on_train_end",
        "teardown"]
    csv = pd.read_csv(Path(opt.save_dir) / "results.csv", skipinitialspace=True)
    assert list(rec.metrics[0]) == list(csv.columns[1:]) == list(result_keys(DetectTask()))
    assert rec.metrics[0]["x/lr0"] == pytest.approx(csv["x/lr0"][0])


def test_teardown_runs_when_training_fails(coco8_yaml, tmp_path, monkeypatch):
    class Fails(Recorder):
        def on_train_start(self, trainer):
            raise RuntimeError("tracker lost")

    rec = Fails()
    monkeypatch.setattr(train_module, "plugins_from", lambda opt: [rec])
    with pytest.raises(RuntimeError, match="tracker lost"):
        train_module.run(data=str(coco8_yaml), cfg="yolov5n.yaml", weights="", project=str(tmp_path), **TINY)
    assert rec.hooks[-1] == "teardown"


def test_each_task_names_its_results_columns():
    assert result_keys(DetectTask())[:3] == ("train/box_loss", "train/obj_loss", "train/cls_loss")
    seg = result_keys(SegmentTask())
    assert seg[:4] == ("train/box_loss", "train/seg_loss", "train/obj_loss", "train/cls_loss")
    assert "metrics/mAP_0.5:0.95(M)" in seg and seg[-3:] == ("x/lr0", "x/lr1", "x/lr2")
    assert result_keys(ClassifyTask()) == ("train/loss", "metrics/accuracy_top1", "metrics/accuracy_top5",
                                           "val/loss", "lr/0")


def test_teacher_keeps_the_head_inputs_of_the_compiled_forward(monkeypatch):
    """--compile with --teacher: one compiled function returns the predictions and the Detect inputs (no hook)."""
    import engine.teacher as teacher_module
    from models.yolo import Model

    compiled = []
    monkeypatch.setattr(teacher_module, "compile_fn", lambda fn, device, prefix: compiled.append(fn) or fn)

    class FakeDistiller:
        def keep_student_inputs(self, features):
            self.features = features

        def student_forward(self, model, imgs, forward=None):
            return forward(imgs)

    model = Model("yolov5n.yaml").train()
    plugin = Distillation("teacher.pt")
    plugin.distiller = FakeDistiller()
    trainer = type("T", (), {"model": model, "device": torch.device("cpu"),
                             "opt": type("O", (), {"compile": True})()})()
    x = torch.rand(1, 3, 64, 64)
    preds = plugin.wrap_forward(trainer, model)(x)
    assert compiled == [model.forward_with_head_inputs]
    assert [f.shape[1] for f in plugin.distiller.features] == [m.in_channels for m in model.model[-1].m]
    torch.manual_seed(0)
    assert all(torch.equal(a, b) for a, b in zip(preds, model(x)))
    trainer.opt.compile = False  # eager: the trainer's forward runs under the Detect pre-hook
    assert plugin.wrap_forward(trainer, lambda t: "eager")(x) == "eager"


def test_segment_and_classify_train_on_the_engine(tmp_path):
    import classify.train as cls_train
    import segment.train as seg_train

    seg_data = tmp_path / "coco8-seg"
    shutil.copytree(ROOT / "data/coco8-seg", seg_data)
    d = yaml.safe_load((ROOT / "data/coco8-seg.yaml").read_text())
    (tmp_path / "seg.yaml").write_text(yaml.safe_dump({**d, "path": str(seg_data)}))
    opt = seg_train.run(data=str(tmp_path / "seg.yaml"), cfg="yolov5n-seg.yaml", weights="", project=str(tmp_path),
                        name="seg", **TINY)
    ckpt = load_checkpoint(Path(opt.save_dir) / "weights/best.pt")
    assert type(ckpt["model"]).__name__ == "SegmentationModel" and ckpt["epoch"] == -1
    assert pd.read_csv(Path(opt.save_dir) / "results.csv", skipinitialspace=True).shape == (1, 1 + len(
        result_keys(SegmentTask())))
    header = (Path(opt.save_dir) / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:2] == [f"{'epoch':>23}", f"{'train/box_loss':>23}"]  # v7.0's seg runs pad fields to 23

    cls_data = tmp_path / "coco8-cls"
    shutil.copytree(ROOT / "data/coco8-cls", cls_data)
    opt = cls_train.run(model="yolov5n.yaml", data=str(cls_data), imgsz=64, batch_size=8, workers=0, epochs=2,
                        project=str(tmp_path), name="cls")
    ckpt = load_checkpoint(Path(opt.save_dir) / "weights/best.pt")
    assert type(ckpt["model"]).__name__ == "ClassificationModel"
    lines = (Path(opt.save_dir) / "results.csv").read_text().splitlines()
    assert lines[0].split(",") == [f"{k:>23}" for k in ("epoch", "train/loss", "val/loss", "metrics/accuracy_top1",
                                                        "metrics/accuracy_top5", "lr/0")]  # v7.0's order and width
    assert [len(f) for f in lines[1].split(",")] == [23] * 6
    assert ckpt["model"].names == dict(enumerate(sorted(p.name for p in (cls_data / "train").iterdir() if p.is_dir())))
    csv = pd.read_csv(Path(opt.save_dir) / "results.csv", skipinitialspace=True)
    assert csv["epoch"].tolist() == [0, 1] and csv["lr/0"].tolist() == pytest.approx([0.001 * 0.505, 0.001 * 0.01])


def test_freeze_beyond_the_layers_is_one_line(coco8_yaml, tmp_path):
    from utils.errors import UserError

    with pytest.raises(UserError, match=r"--freeze 30 freezes the first 30 layers, but the model has 25"):
        train_module.run(data=str(coco8_yaml), cfg="yolov5n.yaml", weights="", project=str(tmp_path), freeze=[30],
                         **TINY)
