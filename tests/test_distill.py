"""train.py --teacher: distillation loss, clean checkpoints, --resume, DDP, stride check (tiny YAML models, 64 px)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

import train as train_module
from engine.trainer import Trainer
from models.checkpoints import load_checkpoint, save_checkpoint
from models.loading import attempt_load
from models.yolo import Model
from tests.data_helpers import Killed, copy_coco8, kill_in_second_epoch
from utils.errors import UserError
from utils.files import ROOT, check_yaml, yaml_load
from engine import distillation as distill
from engine.distillation import DIST_HYP, Distiller, load_teacher
from utils.training.hyps import load_hyp
from utils.training.loss import ComputeLoss

TINY = dict(imgsz=64, batch_size=4, workers=0, epochs=1, noplots=True)
HYP = yaml_load(ROOT / "data/hyps/hyp.scratch-low.yaml")


def _save(model: nn.Module, path: Path) -> Path:
    """A YOLOv5-layout checkpoint of model (fp16, as train.py writes them)."""
    save_checkpoint({"epoch": -1, "model": deepcopy(model).half(), "optimizer": None}, path)
    return path


def _model(cfg: str | dict, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = Model(cfg).half().float()  # fp16-exact weights, so a saved copy holds the same numbers
    model.hyp = dict(HYP)
    return model


@pytest.fixture(scope="module")
def teachers(tmp_path_factory) -> dict[str, Path]:
    """Random-weight teachers: yolov5n (the Ghost model's layout), yolov5s (other widths), two strides only."""
    d = tmp_path_factory.mktemp("teachers")
    two_levels = yaml_load(check_yaml("yolov5n.yaml"))
    two_levels["anchors"] = two_levels["anchors"][:2]
    two_levels["head"][-1] = [[17, 20], 1, "Detect", ["nc", "anchors"]]
    return {"n": _save(_model("yolov5n.yaml"), d / "n.pt"), "s": _save(_model("yolov5s.yaml"), d / "s.pt"),
            "p3p4": _save(_model(two_levels), d / "p3p4.pt")}


@pytest.fixture(scope="module")
def coco8_yaml(tmp_path_factory) -> Path:
    root = copy_coco8(tmp_path_factory.mktemp("data"))
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    f = root.parent / "coco8.yaml"
    f.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": names}))
    return f


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.4, 0.6], [1, 2, 0.3, 0.6, 0.2, 0.2]])
    return torch.rand(2, 3, 64, 64, generator=g), targets


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_student_equal_to_teacher_has_zero_loss_and_same_gradients(teachers):
    student = _model("yolov5n.yaml")
    student.train()
    for m in student.modules():  # the teacher's BatchNorm statistics, as an identical model has them
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    distiller = Distiller(student, load_teacher(teachers["n"], student, torch.device("cpu")), DIST_HYP)  # ONNX Runtime
    imgs, targets = _batch()
    compute_loss = ComputeLoss(student)
    compute_loss(student(imgs), targets)[0].backward()
    plain = _grads(student)
    student.zero_grad()
    preds = distiller.student_forward(student, imgs)
    dist_loss = distiller.loss(imgs, preds)
    (compute_loss(preds, targets)[0] + dist_loss).backward()
    assert dist_loss.item() < 1e-6
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(plain, _grads(student)))


def test_other_student_gets_gradients_from_each_term(teachers, monkeypatch):
    monkeypatch.setattr(distill, "BOX_CONF", 0.0)  # a random teacher is never sure of a box
    monkeypatch.setattr(distill, "CLS_CONF", 0.0)  # nor of an object
    student = _model("yolov5n-ghostdyn.yaml", seed=1).train()
    teacher = load_teacher(teachers["s"], student, torch.device("cpu"))  # other widths: adapters in between
    distiller = Distiller(student, teacher, DIST_HYP, onnx=False)  # the eager teacher (CUDA's, the fallback)
    imgs, _ = _batch()
    preds = distiller.student_forward(student, imgs)
    backbone, head = student.model[0].conv.weight, student.model[-1].m[0].weight
    for term in DIST_HYP:
        distiller.hyp = {k: float(k == term) for k in DIST_HYP}
        loss = distiller.loss(imgs, preds)
        grads = torch.autograd.grad(loss, [backbone, head, *distiller.params], retain_graph=True, allow_unused=True)
        assert loss.item() > 0, term
        assert grads[0].abs().sum() > 0, term
        if term == "dist_feat":  # features are taken before the head, through the adapters
            assert grads[1].abs().sum() == 0 and all(g.abs().sum() > 0 for g in grads[2:])
        else:
            assert grads[1].abs().sum() > 0, term


def test_checkpoints_hold_no_teacher_or_adapters_and_resume_with_teacher(coco8_yaml, teachers, tmp_path,
                                                                         monkeypatch, log_lines):
    original = kill_in_second_epoch(monkeypatch)
    options = dict(data=str(coco8_yaml), cfg="yolov5n-ghostdyn.yaml", weights="", project=str(tmp_path),
                   name="exp", teacher=str(teachers["s"]), **{**TINY, "epochs": 2})
    with pytest.raises(Killed):
        train_module.run(**options)
    last = tmp_path / "exp/weights/last.pt"
    ckpt = load_checkpoint(last)
    keys = set(Model("yolov5n-ghostdyn.yaml").state_dict())
    n_params = len(list(ckpt["model"].parameters()))
    assert set(ckpt["model"].state_dict()) == keys and set(ckpt["ema"].state_dict()) == keys
    assert len(ckpt["optimizer"]["param_groups"]) == 4  # YOLOv5's three, and the adapters' without state
    assert len(ckpt["optimizer"]["state"]) <= n_params
    assert yaml_load(tmp_path / "exp/opt.yaml")["teacher"] == str(teachers["s"])

    monkeypatch.setattr(Trainer, "train_epoch", original)
    log_lines.clear()
    train_module.run(resume=str(last))
    assert any(line.startswith("Resuming training") for line in log_lines)
    assert sum("distill: " in line for line in log_lines) == 1  # the resumed epoch was distilled
    for f in ("last.pt", "best.pt"):
        model = attempt_load(tmp_path / "exp/weights" / f)
        assert set(load_checkpoint(tmp_path / "exp/weights" / f)["model"].state_dict()) == keys
        assert model(torch.zeros(1, 3, 64, 64))[0].shape[-1] == 85


def test_teacher_with_other_strides_is_refused_in_one_line(coco8_yaml, teachers, tmp_path):
    with pytest.raises(UserError) as e:
        train_module.run(data=str(coco8_yaml), cfg="yolov5n-ghostdyn.yaml", weights="", project=str(tmp_path),
                         teacher=str(teachers["p3p4"]), **TINY)
    assert "strides [8, 16]" in str(e.value) and "[8, 16, 32]" in str(e.value) and "\n" not in str(e.value)


def test_warm_start_copies_the_teacher_then_trains_blocks_alone_and_everything_stitched(coco8_yaml, teachers,
                                                                                       log_lines):
    from engine.warm_start import warm_start

    teacher_state = attempt_load(teachers["n"], fuse=False).state_dict()
    student = _model("yolov5n-ghostdyn.yaml", seed=2)
    before = deepcopy(student.state_dict())
    warm_start(student, teachers["n"], ROOT / "data/coco8/images", 64, steps=4, batch_size=4, hyp=HYP)
    after = student.state_dict()
    ghost = [k for k in before if ".primary_conv.0." in k and k.endswith("weight")]
    blocks = {k.split(".")[1] for k in ghost}  # the imitating layers; the others are all copied
    copied = [k for k in before if k in teacher_state and teacher_state[k].shape == before[k].shape
              and k.endswith("conv.weight") and k.split(".")[1] not in blocks]
    assert ghost and "model.0.conv.weight" in copied and all(not torch.equal(after[k], before[k]) for k in ghost)
    for k in copied:  # copied, then adapted by the stitched steps
        teacher_k = teacher_state[k].float()
        assert not torch.equal(after[k], teacher_k) and torch.allclose(after[k], teacher_k, atol=1e-2), k
    assert any("step 1/4 local" in line and "output terms 0.000" in line for line in log_lines)
    assert any("step 4/4 stitched" in line and "output terms 0.000" not in line for line in log_lines)
    with pytest.raises(UserError, match="counterpart|layout"):
        warm_start(_model("yolov5n-ghostdyn.yaml"), teachers["s"], ROOT / "data/coco8/images", 64, 1, 4, HYP)


def test_warm_start_views_are_augmented_mosaics_or_single_images():
    import cv2
    from utils.data.augmentations import letterbox
    from engine.warm_start import augmented

    ims = [cv2.imread(str(f)) for f in sorted((ROOT / "data/coco8/images/train").glob("*.jpg"))[:4]]
    rng = random.Random(0)
    single = [augmented(ims[:1], 64, HYP, rng) for _ in range(3)]
    mosaics = [augmented(ims, 64, HYP, rng) for _ in range(3)]
    for views in single, mosaics:
        assert all(im.shape == (3, 64, 64) and im.dtype == np.uint8 for im in views)
        assert not np.array_equal(views[0], views[1]) and not np.array_equal(views[1], views[2])
    still = {**HYP, "degrees": 0, "shear": 0, "perspective": 0, "translate": 0, "scale": 0, "fliplr": 0, "hsv_h": 0,
             "hsv_s": 0, "hsv_v": 0}
    plain = augmented(ims[:1], 64, still, rng)
    assert np.array_equal(plain, letterbox(ims[0], 64, auto=False)[0].transpose((2, 0, 1))[::-1])
    random.seed(0)  # random_perspective draws from the global generator
    for warp in ("degrees", "shear"):  # the hyp's rotation and shear ranges apply, as in the labelled loader
        assert not np.array_equal(augmented(ims[:1], 64, {**still, warp: 30}, rng), plain)


def test_warm_start_reads_mosaic_images_only_for_mosaics_and_each_image_once(tmp_path, monkeypatch):
    import cv2
    from engine import warm_start

    for i in range(8):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((32, 32, 3), 20 * i, np.uint8))
    reads = []
    monkeypatch.setattr(warm_start, "_read", lambda f: reads.append(f) or cv2.imread(f))
    monkeypatch.setattr(warm_start, "CACHE_BYTES", 0)  # no cache: every view reads its images
    for mosaic, per_view in ((0.0, 1), (1.0, 4)):
        reads.clear()
        next(warm_start.image_batches(tmp_path, 32, 8, {**HYP, "mosaic": mosaic}))
        assert len(reads) == 8 * per_view
    reads.clear()
    monkeypatch.setattr(warm_start, "CACHE_BYTES", 2**30)
    batches = warm_start.image_batches(tmp_path, 32, 8, {**HYP, "mosaic": 1.0})
    next(batches), next(batches)
    assert len(reads) == len(set(reads)) == 8


def test_warm_start_mixup_blends_two_views_with_the_hyps_probability(tmp_path):
    import cv2
    from engine.warm_start import image_batches

    for name, value in (("dark", 40), ("light", 200)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((32, 32, 3), value, np.uint8))
    plain = {**HYP, "mosaic": 0.0, "translate": 0, "scale": 0, "hsv_h": 0, "hsv_s": 0, "hsv_v": 0}

    def pixels(mixup: float) -> set:
        batches = image_batches(tmp_path, 32, 2, {**plain, "mixup": mixup})
        return set(torch.cat([next(batches) for _ in range(8)]).mul(255).round().int().unique().tolist())

    assert pixels(0.0) == {40, 200}
    blends = pixels(1.0) - {40, 200}
    assert blends and all(40 < v < 200 for v in blends)


def test_distill_hyp_file_loads_with_its_distillation_keys():
    hyp = load_hyp(ROOT / "data/hyps/hyp.distill.yaml")
    assert set(DIST_HYP) <= set(hyp) and hyp["lr0"] < HYP["lr0"] and hyp["warmup_bias_lr"] == 0


def test_two_process_gloo_ddp_with_teacher(coco8_yaml, teachers, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "train.py"), "--data", str(coco8_yaml), "--cfg", "yolov5n-ghostdyn.yaml", "--weights", "",
           "--teacher", str(teachers["s"]), "--img", "64", "--batch", "4", "--epochs", "1", "--workers", "0",
           "--device", "cpu", "--noplots", "--project", str(tmp_path), "--name", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert (tmp_path / "ddp/weights/best.pt").is_file()
    assert (p.stdout + p.stderr).count("distill: ") == 1  # rank 0 logs the distillation terms
