"""val.py end to end on a few coco128 images with the official yolov5n weights, at tiny image sizes."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import val
from utils.errors import UserError
from utils.files import ROOT, yaml_load, yaml_save
from utils.logger import LOGGER

COCO_NAMES = yaml_load(ROOT / "data" / "coco128.yaml")["names"]


def make_dataset(coco128: Path, folder: Path, n: int) -> Path:
    """Copy the first n coco128 images and labels into folder and return a data YAML for them."""
    src = coco128 / "images" / "train2017"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for im in sorted(src.glob("*.jpg"))[:n]:
        shutil.copy(im, folder / "images")
        label = coco128 / "labels" / "train2017" / f"{im.stem}.txt"
        if label.exists():
            shutil.copy(label, folder / "labels")
    yaml_file = folder / "data.yaml"
    yaml_save(yaml_file, {"path": str(folder), "train": "images", "val": "images", "names": COCO_NAMES})
    return yaml_file


def n_labels(folder: Path) -> int:
    return sum(len(f.read_text().split("\n")) - 1 for f in (folder / "labels").glob("*.txt"))


@pytest.fixture(scope="module")
def data16(tmp_path_factory) -> Path:
    from tests.conftest import shared_path

    return make_dataset(shared_path("datasets/coco128"), tmp_path_factory.mktemp("c16"), 16)


@pytest.fixture
def log_text():
    """Everything LOGGER prints during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    LOGGER.addHandler(handler)
    yield stream
    LOGGER.removeHandler(handler)


def test_val_run_metrics_table_plots_txt_and_json(data16, yolov5n_pt, tmp_path, log_text, capsys):
    (mp, mr, map50, map_coco, *losses), maps, t = val.run(
        str(data16), weights=str(yolov5n_pt), imgsz=160, batch_size=8, workers=0, save_txt=True, save_conf=True,
        save_json=True, project=tmp_path, name="exp")
    out = log_text.getvalue()
    row = next(line for line in out.splitlines() if line.split()[:1] == ["all"])
    all_, images, instances, p, r, m50, m = row.split()
    assert (images, int(instances)) == ("16", n_labels(data16.parent))
    assert float(m50) > 0.3 and 0 < float(m) < float(m50)  # yolov5n sees these images well even at 160 px
    assert float(p) == pytest.approx(mp, abs=5e-4) and float(r) == pytest.approx(mr, abs=5e-4)
    assert "Speed:" in out and "per image at shape (8, 3, 160, 160)" in out
    assert len(losses) == 3 and maps.shape == (80,) and len(t) == 3

    save_dir = tmp_path / "exp"
    for f in ("confusion_matrix.png", "PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png",
              "val_batch0_labels.jpg", "val_batch0_pred.jpg", "val_batch1_pred.jpg"):
        assert (save_dir / f).stat().st_size > 1000, f
    txt = sorted((save_dir / "labels").glob("*.txt"))
    assert txt and all(len(line.split()) == 6 for line in txt[0].read_text().splitlines())

    preds = json.loads((save_dir / "yolov5n_predictions.json").read_text())
    assert {"image_id", "category_id", "bbox", "score"} == set(preds[0])
    assert {p["category_id"] for p in preds} <= set(range(1, 91)) and max(p["category_id"] for p in preds) > 80
    assert (save_dir / "annotations_from_labels.json").exists()
    assert "Average Precision  (AP) @[ IoU=0.50:0.95" in capsys.readouterr().out  # pycocotools ran ...
    assert map_coco == pytest.approx(float(m), abs=0.05)  # ... and its mAP50-95 is the one returned


def test_val_is_deterministic(data16, yolov5n_pt, tmp_path):
    kwargs = dict(weights=str(yolov5n_pt), imgsz=128, batch_size=8, workers=0, plots=False, project=tmp_path)
    a = val.run(str(data16), **kwargs)
    b = val.run(str(data16), **kwargs)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def test_evaluate_with_model_and_loss_writes_and_prints_nothing(data16, yolov5n_pt, tmp_path, log_text, capsys):
    from models.loading import attempt_load
    from utils.data.loaders import create_dataloader
    from utils.data.config import check_dataset
    from utils.training.loss import ComputeLoss

    data = check_dataset(str(data16))
    model = attempt_load(yolov5n_pt, fuse=False)
    model.hyp = yaml_load(ROOT / "data" / "hyps" / "hyp.scratch-low.yaml")
    loader = create_dataloader(data["val"], 128, 8, 32, pad=0.5, rect=True, workers=0)[0]
    capsys.readouterr()
    log_text.seek(0)
    log_text.truncate()
    ev = val.evaluate(model, loader, int(data["nc"]), half=True, compute_loss=ComputeLoss(model), save_dir=tmp_path)
    results, maps, _ = ev.results()
    assert len(results) == 7 and all(x > 0 for x in results[4:])  # box, obj, cls validation losses
    assert 0 < results[3] <= results[2] and next(model.parameters()).dtype == torch.float32
    assert maps.shape == (80,) and ev.seen == 16
    assert not any(tmp_path.iterdir())  # plots off: nothing written
    assert log_text.getvalue() == "" and capsys.readouterr().err == ""  # no table, no progress bar unless asked


def test_val_onnx_weights_run_square_batch_one(data16, yolov5n_pt, tmp_path, log_text):
    import export

    weights = tmp_path / "yolov5n.pt"
    shutil.copy(yolov5n_pt, weights)
    (onnx_file,) = export.run(weights=weights, imgsz=(96,), include=("onnx",))
    (mp, mr, map50, map_, *_), _, _ = val.run(str(data16), weights=onnx_file, imgsz=96, batch_size=8, workers=0,
                                              plots=False, project=tmp_path)
    assert "Forcing --batch-size 1 square inference (1,3,96,96)" in log_text.getvalue()
    assert 0 < map_ < map50


def test_wrong_class_count_is_a_user_error(data16, yolov5n_pt, tmp_path):
    yaml_file = tmp_path / "two.yaml"
    yaml_save(yaml_file, {"path": str(data16.parent), "train": "images", "val": "images", "names": ["a", "b"]})
    with pytest.raises(UserError, match="80 classes.*2 classes"):
        val.run(str(yaml_file), weights=str(yolov5n_pt), imgsz=64, workers=0, project=tmp_path)


@pytest.mark.parametrize("kwargs, message", [({"batch_size": 0}, "batch_size=0 is invalid: it must be an integer >= 1"),
                                             ({"conf_thres": 1.5}, "conf_thres=1.5 is invalid"),
                                             ({"imgsz": 99999}, "imgsz=99999 is invalid")])
def test_python_run_checks_arguments_like_the_cli(tmp_path, kwargs, message):
    # refused before the weights, the data or the run folder are touched (both are missing here)
    with pytest.raises(UserError, match=message):
        val.run(str(tmp_path / "missing.yaml"), weights=str(tmp_path / "missing.pt"), project=tmp_path / "runs",
                **kwargs)
    assert not (tmp_path / "runs").exists()


def test_speed_and_study_tasks(data16, yolov5n_pt, tmp_path, monkeypatch, log_text):
    monkeypatch.setattr(val, "STUDY_SIZES", (64, 96))
    base = ["--data", str(data16), "--weights", str(yolov5n_pt), "--batch-size", "8", "--workers", "0",
            "--project", str(tmp_path)]
    val.main(val.parse_opt(base + ["--task", "speed", "--img", "64"]))
    assert "per image at shape (8, 3, 64, 64)" in log_text.getvalue()
    val.main(val.parse_opt(base + ["--task", "study"]))
    rows = np.loadtxt(tmp_path / "study_data_yolov5n.txt", ndmin=2)
    assert rows.shape == (2, 10) and (rows[:, 2] > 0).all()  # P R mAP50 mAP50-95 3 losses 3 times per size
    assert (tmp_path / "study.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [(["--task", "bogus"], "--task bogus"),
                                           (["--data", "missing.yaml"], "missing.yaml")])
def test_cli_errors_are_one_line(args, message):
    r = subprocess.run([sys.executable, "val.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("ERROR:") and message in r.stderr
