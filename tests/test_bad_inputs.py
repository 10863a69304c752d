"""Bad inputs: odd and broken images in training, validation and detection; random label files and augmentations
(hypothesis); broken configs and arguments; downloads while offline. Each is used correctly or refused in one line
that names it, never a traceback."""

from __future__ import annotations

import random
import re
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

import detect
import val
from tests.cli_helpers import one_line_error
from tests.data_helpers import COCO8, copy_coco8
from tests.fault_helpers import TrainProcess, coco8_yaml, tiny_train_args
from utils.annotator import Annotator
from models.autoshape import open_image
from utils.data.config import check_dataset
from utils.data.datasets import LoadImagesAndLabels
from utils.downloads import attempt_download
from utils.errors import UserError
from utils.files import ROOT, check_file
from utils.data.label_scan import verify_image_label

NC = 80
BOX = "0 0.5 0.5 0.5 0.5\n"




# ---------------------------------------------------------------- bad images

def _exif_rotated(path: Path) -> None:
    """Seen upright as 40 wide x 80 high with a white block at the top left; stored lying down with EXIF 6."""
    upright = np.zeros((80, 40, 3), np.uint8)
    upright[:20, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=100)


def _write_odd_images(images: Path) -> dict[str, tuple[int, int] | None]:
    """Each odd image kind in images/; returns name -> (h, w) as it should be seen, None for unusable files."""
    Image.new("RGB", (1, 1), (90, 90, 90)).save(images / "one_pixel.png")
    Image.new("RGB", (10000, 50), (60, 120, 180)).save(images / "wide_10000x50.jpg")
    Image.new("L", (40, 30), 200).save(images / "gray.jpg")
    Image.new("RGBA", (40, 30), (10, 20, 30, 0)).save(images / "rgba.png")
    cv2.imwrite(str(images / "deep_16bit.png"), np.full((30, 40, 3), 40000, np.uint16))
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(images / "cmyk.jpg")  # red
    _exif_rotated(images / "exif_rotated.jpg")
    cv2.imwrite(str(images / "float32_grey.tiff"), np.full((30, 40), 0.5, np.float32))  # Pillow mode F, OpenCV 32F
    cv2.imwrite(str(images / "float_hdr.tiff"), np.full((30, 40, 3), 900.0, np.float32))  # no 8-bit meaning
    (images / "zero_byte.jpg").write_bytes(b"")
    (images / "html.jpg").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    return {"one_pixel.png": (1, 1), "wide_10000x50.jpg": (50, 10000), "gray.jpg": (30, 40), "rgba.png": (30, 40),
            "deep_16bit.png": (30, 40), "cmyk.jpg": (30, 40), "exif_rotated.jpg": (80, 40), "zero_byte.jpg": None,
            "html.jpg": None, "float32_grey.tiff": (30, 40), "float_hdr.tiff": None}


TOO_SMALL_OR_BROKEN = ("one_pixel.png", "zero_byte.jpg", "html.jpg", "float_hdr.tiff")  # what the label scan leaves out


@pytest.fixture(scope="module")
def odd_dataset(tmp_path_factory) -> tuple[Path, dict]:
    """coco8's 4 training images plus one of each odd kind, every image with a label file; returns its data YAML."""
    root = tmp_path_factory.mktemp("odd")
    images, labels = root / "images", root / "labels"
    images.mkdir()
    labels.mkdir()
    for f in (COCO8 / "images" / "train").glob("*.jpg"):
        (images / f.name).write_bytes(f.read_bytes())
        (labels / f"{f.stem}.txt").write_bytes((COCO8 / "labels" / "train" / f"{f.stem}.txt").read_bytes())
    kinds = _write_odd_images(images)
    for name in kinds:
        (labels / f"{Path(name).stem}.txt").write_text(BOX)
    (labels / "exif_rotated.txt").write_text("0 0.125 0.125 0.25 0.25\n")  # the white block, upright coordinates
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    data = root / "odd.yaml"
    data.write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images", "names": names}))
    return data, kinds


def _assert_skipped_by_name(text: str, images: Path) -> None:
    for name in TOO_SMALL_OR_BROKEN:
        assert f"{images / name}: ignoring corrupt image/label" in text, name


def test_odd_images_decode_as_upright_3_channel_8_bit(odd_dataset, log_lines):
    data, kinds = odd_dataset
    images = data.parent / "images"
    ds = LoadImagesAndLabels(str(images), img_size=64, batch_size=1, nc=NC)
    _assert_skipped_by_name("\n".join(log_lines), images)
    usable = {n for n, hw in kinds.items() if hw and n != "one_pixel.png"}
    assert {Path(f).name for f in ds.im_files} - {f.name for f in (COCO8 / "images/train").glob("*.jpg")} == usable
    expected_rgb = {"gray.jpg": (200, 200, 200), "rgba.png": (10, 20, 30), "deep_16bit.png": (156, 156, 156),
                    "cmyk.jpg": (255, 0, 0), "float32_grey.tiff": (128, 128, 128)}
    for i, f in enumerate(ds.im_files):
        name = Path(f).name
        im, labels, _, ((h0, w0), _, ) = ds[i]
        assert im.dtype == torch.uint8 and im.shape[0] == 3, name
        if name in kinds:
            assert (h0, w0) == kinds[name] and len(labels) == 1, name
        if name in expected_rgb:
            centre = im[:, im.shape[1] // 2, im.shape[2] // 2].tolist()
            assert np.allclose(centre, expected_rgb[name], atol=3), (name, centre)
        if name == "exif_rotated.jpg":  # the label box (upright coordinates) covers the white block
            _, _, x, y, w, h = labels[0].tolist()
            rows, cols = im.shape[1], im.shape[2]
            y1, y2 = int((y - h / 2) * rows) + 1, int((y + h / 2) * rows) - 1
            x1, x2 = int((x - w / 2) * cols) + 1, int((x + w / 2) * cols) - 1
            assert im[:, y1:y2, x1:x2].float().mean() > 240


def test_training_uses_odd_images_and_names_the_broken_ones(odd_dataset, tmp_path):
    data, _ = odd_dataset
    run = TrainProcess(tmp_path / "logs", [*tiny_train_args(data, tmp_path, 1), "--img", "33", "--batch", "4",
                                           "--noautoanchor"])
    assert run.wait() == 0, run.output()
    text, progress = run.stdout.read_text(), run.stderr.read_text()
    assert "--img-size 33 must be multiple of max stride 32, updating to 64" in text + progress
    _assert_skipped_by_name(text, data.parent / "images")
    assert "11 images, 0 backgrounds, 4 corrupt" in progress and "3/3" in progress  # 11 images in batches of 4
    assert re.search(r"\s+all\s+11\s+\d+", text)  # and the same 11 validated
    assert (tmp_path / "exp" / "weights" / "best.pt").is_file()


def test_validation_uses_odd_images_and_names_the_broken_ones(odd_dataset, yolov5n_pt, tmp_path, log_lines):
    data, _ = odd_dataset
    val.run(data=str(data), weights=str(yolov5n_pt), imgsz=64, batch_size=4, workers=0, project=str(tmp_path),
            plots=False)
    text = "\n".join(log_lines)
    _assert_skipped_by_name(text, data.parent / "images")
    assert re.search(r"\s+all\s+11\s+\d+", text), text[-2000:]


def test_detection_uses_odd_images_and_names_the_unreadable_ones(odd_dataset, yolov5n_pt, tmp_path, log_lines):
    data, kinds = odd_dataset
    images = data.parent / "images"
    save_dir = detect.run(weights=yolov5n_pt, source=images, imgsz=(64, 64), project=tmp_path, name="odd")
    text = "\n".join(log_lines)
    for name, hw in kinds.items():
        saved = save_dir / name
        if hw is None:
            assert f"skipping {images / name}: " in text and not saved.exists(), name
        else:
            assert cv2.imread(str(saved)).shape == (*hw, 3), name  # upright, original size, 8-bit BGR


# ---------------------------------------------------------------- random label files (hypothesis)

# the same examples on every run (a CI failure reproduces), nothing written to a .hypothesis folder
PROPERTY_SETTINGS = settings(deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
NUMBERS = st.one_of(st.floats(0, 1).map(lambda x: f"{x:.6f}"), st.floats(-5, 5).map(str),
                    st.integers(-3, 200).map(str), st.sampled_from(["nan", "inf", "-inf", "1e400", "-0", "1e-9",
                                                                    "99999999999999999999", "0x1F", "abc", "1,5"]))
ROW = st.lists(NUMBERS, min_size=0, max_size=11)
SEP = st.sampled_from([" ", "  ", "\t", " \t "])
LINE = st.tuples(ROW, SEP, st.sampled_from(["", " ", "  ", "\t"])).map(lambda r: r[1].join(r[0]) + r[2])
VALID_ROW = st.tuples(st.integers(0, NC - 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).map(
    lambda r: " ".join([str(r[0])] + [f"{v:.6f}" for v in r[1:]]))
VALID_POLYGON = st.tuples(st.integers(0, NC - 1), st.lists(st.floats(0, 1), min_size=6, max_size=10)).map(
    lambda r: " ".join([str(r[0])] + [f"{v:.6f}" for v in r[1][:len(r[1]) // 2 * 2]]))
LABEL_TEXT = st.tuples(st.lists(st.one_of(LINE, VALID_ROW, VALID_ROW, VALID_POLYGON, st.just("")), max_size=8),
                       st.sampled_from(["\n", "\r\n"]), st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] else ""))


def _expected_rows(text: str) -> list[list[float]] | None:
    """What a correct scan keeps: every row (None when any row makes the file unusable)."""
    rows = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        try:
            v = [float(t) for t in tokens]
        except ValueError:
            return None
        n = len(v)
        ok_shape = n == 5 or (n >= 7 and n % 2 == 1)
        if not ok_shape or not np.isfinite(v).all() or v[0] < 0 or v[0] != int(v[0]) or v[0] >= NC:
            return None
        if min(v[1:]) < 0 or max(v[1:]) > 1:
            return None
        if n == 5:
            rows.append(v)
        else:
            x, y = v[1::2], v[2::2]
            rows.append([v[0], (min(x) + max(x)) / 2, (min(y) + max(y)) / 2, max(x) - min(x), max(y) - min(y)])
    return rows


@pytest.fixture(scope="module")
def label_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("labels")
    (folder / "images").mkdir()
    (folder / "images" / "a.jpg").write_bytes((COCO8 / "images/train/000000000536.jpg").read_bytes())
    return folder


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(text=LABEL_TEXT, raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_random_label_files_never_crash_the_scan_and_keep_only_valid_boxes(label_dir, text, raw):
    im, lb = label_dir / "images" / "a.jpg", label_dir / "a.txt"
    lb.write_bytes(raw if raw is not None else text.encode())
    r = verify_image_label(str(im), str(lb), nc=NC)
    event(r.status)
    try:
        expected = _expected_rows(raw.decode("utf-8") if raw is not None else text)
    except UnicodeDecodeError:
        expected = None
    if expected is None:
        assert r.status == "corrupt" and str(im) in r.msg and len(r.labels) == 0
        return
    assert r.status == ("found" if expected else "empty"), r.msg
    labels = r.labels
    assert labels.shape[1] == 5 and np.isfinite(labels).all()
    assert ((labels[:, 0] >= 0) & (labels[:, 0] < NC) & (labels[:, 0] == labels[:, 0].round())).all()
    assert ((labels[:, 1:] >= 0) & (labels[:, 1:] <= 1)).all()
    assert len(np.unique(labels, axis=0)) == len(labels)  # duplicates removed
    unique_expected = np.unique(np.array(expected, dtype=np.float32).reshape(-1, 5), axis=0)
    np.testing.assert_allclose(np.unique(labels, axis=0), unique_expected, atol=1e-6)


@pytest.fixture(scope="module")
def augmenting_dataset(tmp_path_factory) -> LoadImagesAndLabels:
    root = copy_coco8(tmp_path_factory.mktemp("aug"))
    return LoadImagesAndLabels(str(root / "images" / "train"), img_size=64, augment=True, nc=NC)


BOXES = st.lists(st.tuples(st.integers(0, NC - 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
                           st.floats(0, 1)), max_size=6)
HYPS = st.fixed_dictionaries({
    "mosaic": st.sampled_from([0.0, 1.0]), "mixup": st.sampled_from([0.0, 1.0]), "copy_paste": st.floats(0, 1),
    "degrees": st.floats(0, 45), "translate": st.floats(0, 0.9), "scale": st.floats(0, 0.9), "shear": st.floats(0, 10),
    "perspective": st.sampled_from([0.0, 0.0005, 0.001]), "flipud": st.floats(0, 1), "fliplr": st.floats(0, 1),
    "hsv_h": st.floats(0, 0.1), "hsv_s": st.floats(0, 0.9), "hsv_v": st.floats(0, 0.9)})


@settings(PROPERTY_SETTINGS, max_examples=150)
@given(boxes=st.lists(BOXES, min_size=4, max_size=4), polygons=st.booleans(), hyp=HYPS, seed=st.integers(0, 2**16))
def test_augmentations_keep_every_box_inside_the_image_with_positive_area(augmenting_dataset, boxes, polygons, hyp,
                                                                        seed):
    ds = augmenting_dataset
    ds.hyp = hyp
    for i, rows in enumerate(boxes):
        ds.labels[i] = np.array(rows, dtype=np.float32).reshape(-1, 5)
        ds.segments[i] = [np.array([[x - w / 2, y - h / 2], [x + w / 2, y - h / 2], [x + w / 2, y + h / 2],
                                    [x - w / 2, y + h / 2]], dtype=np.float32).clip(0, 1)
                          for _, x, y, w, h in rows] if polygons else []
    random.seed(seed)
    np.random.seed(seed)
    for i in range(len(ds)):
        im, labels, _, _ = ds[i]
        assert im.shape == (3, 64, 64)
        _, _, x, y, w, h = labels.T if len(labels) else torch.zeros(6, 0)
        assert torch.isfinite(labels).all()
        assert ((w > 0) & (h > 0)).all(), labels
        assert ((x - w / 2 >= -1e-6) & (x + w / 2 <= 1 + 1e-6) & (y - h / 2 >= -1e-6) & (y + h / 2 <= 1 + 1e-6)).all()


# ---------------------------------------------------------------- bad configs and arguments

@pytest.fixture(scope="module")
def coco8_data(tmp_path_factory) -> Path:
    return coco8_yaml(tmp_path_factory.mktemp("coco8"))


def _data_yaml(tmp_path: Path, coco8_data: Path, **changes) -> Path:
    d = {**yaml.safe_load(coco8_data.read_text()), **changes}
    d = {k: v for k, v in d.items() if v is not None}
    f = tmp_path / "data.yaml"
    f.write_text(yaml.safe_dump(d))
    return f


def _model_yaml(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "models/yolov5n.yaml").read_text()
    assert old in text
    f = tmp_path / "model.yaml"
    f.write_text(text.replace(old, new))
    return f


def _train_args(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--cfg", "yolov5n.yaml", "--weights", "", "--img", "64", "--epochs", "1",
            "--workers", "0", "--noplots", "--project", str(tmp_path), *extra]


def test_bad_data_yamls_are_one_line_errors(tmp_path, coco8_data, capsys):
    cases = {
        "'val:' field missing": dict(val=None),
        "'names:' field missing": dict(names=None),
        "nc=3 but 80 names are given": dict(nc=3),
        "ids must be 0..1 without gaps, missing [1]": dict(names={0: "a", 2: "c"}),
        "has no 'download' key, put the dataset at": dict(train="images/nowhere"),
        "'names' must be a list of class names": dict(names="person"),
    }
    for message, changes in cases.items():
        err = one_line_error("train", _train_args(tmp_path, _data_yaml(tmp_path, coco8_data, **changes)), capsys)
        assert message in err and "data.yaml" in err, err


def test_bad_model_yamls_are_one_line_errors(tmp_path, coco8_data, capsys):
    cases = {
        "unknown module 'SPPX'": ("SPPF, [1024, 5]", "SPPX, [1024, 5]"),
        "cannot build SPPF": ("SPPF, [1024, 5]", "SPPF, [1024, 5, 7, 9]"),
        "layer 9 [99, 1, 'SPPF', [1024, 5]]: IndexError": ("[-1, 1, SPPF, [1024, 5]]", "[99, 1, SPPF, [1024, 5]]"),
        "nc must be a positive integer, got 'many'": ("nc: 80", "nc: many"),
        "anchors must be a count or lists of w,h pairs": ("[10,13, 16,30, 33,23]", "[10,13, 16]"),
        "number of repeats must be a positive integer, got -3": ("[-1, 3, C3, [128]]", "[-1, -3, C3, [128]]"),
    }
    data = _data_yaml(tmp_path, coco8_data)
    for message, (old, new) in cases.items():
        cfg = _model_yaml(tmp_path, old, new)
        err = one_line_error("train", [*_train_args(tmp_path, data), "--cfg", str(cfg)], capsys)
        assert message in err, err


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0 is invalid: it must be an integer >= 1"),
    (["--batch-size", "0"], "--batch-size 0 is invalid: it must be an integer >= 1 (or -1 for AutoBatch)"),
    (["--batch-size", "-4"], "--batch-size -4 is invalid"),
    (["--img", "0"], "--imgsz 0 is invalid"),
    (["--workers", "-1"], "--workers -1 is invalid"),
    (["--seed", "-3"], "--seed -3 is invalid"),
    (["--freeze", "-1"], "--freeze -1 is invalid"),
    (["--label-smoothing", "nan"], "--label-smoothing nan is invalid"),
    (["--device", "7"], "invalid CUDA '--device 7' requested"),
    (["--hyp", str(ROOT / "data/coco8.yaml")], "lacks the hyperparameter(s) lr0"),
])
def test_bad_training_arguments_are_one_line_errors(tmp_path, coco8_data, capsys, args, message):
    err = one_line_error("train", [*_train_args(tmp_path, coco8_data), *args], capsys)
    assert message in err, err


def test_a_bad_hyp_value_is_refused_before_any_run_folder_exists(tmp_path, coco8_data, capsys):
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text((ROOT / "data/hyps/hyp.scratch-low.yaml").read_text().replace("mosaic: 1.0", "mosaic: 1.5"))
    project = tmp_path / "runs"
    err = one_line_error("train", [*_train_args(project, coco8_data), "--hyp", str(hyp)], capsys)
    assert f"{hyp}: mosaic: 1.5 is out of range, it must be a number in [0, 1]" in err, err
    assert not project.exists()


@pytest.mark.parametrize("script, args, message", [
    ("val", ["--batch-size", "0"], "--batch-size 0 is invalid"),
    ("val", ["--batch-size", "-2"], "--batch-size -2 is invalid"),
    ("val", ["--img", "-32"], "--imgsz -32 is invalid"),
    ("val", ["--conf-thres", "1.01"], "--conf-thres 1.01 is invalid"),
    ("val", ["--max-det", "0"], "--max-det 0 is invalid"),
    ("detect", ["--img", "640", "640", "3"], "--imgsz takes 1 or 2 values"),
    ("detect", ["--img", "0"], "--imgsz 0 is invalid"),
    ("detect", ["--max-det", "-1"], "--max-det -1 is invalid"),
    ("detect", ["--line-thickness", "-2"], "--line-thickness -2 is invalid"),
    ("detect", ["--iou-thres", "inf"], "--iou-thres inf is invalid"),
    ("detect", ["--vid-stride", "0"], "--vid-stride 0 is invalid"),
    ("detect", ["--classes", "-1"], "--classes -1 is invalid"),
    ("export", ["--batch-size", "0"], "--batch-size 0 is invalid"),
    ("export", ["--img", "320", "320", "3"], "--imgsz takes 1 or 2 values"),
    ("benchmarks", ["--img", "0"], "--imgsz 0 is invalid"),
    ("benchmarks", ["--batch-size", "-1"], "--batch-size -1 is invalid"),
])
def test_every_script_refuses_bad_numbers_before_loading_anything(tmp_path, coco8_data, capsys, script, args, message):
    """Checked before any model or data is touched: the weights named here do not exist."""
    where = [] if script == "export" else ["--project", str(tmp_path)]  # export writes beside the weights
    err = one_line_error(script, ["--weights", str(tmp_path / "absent.pt"), *where, *args], capsys)
    assert message in err, err


@pytest.mark.parametrize("script", ["val", "detect"])
def test_missing_gpu_is_a_one_line_error_for_val_and_detect(tmp_path, coco8_data, capsys, script):
    err = one_line_error(script, ["--device", "7", "--data", str(coco8_data), "--weights", "yolov5n.pt",
                                  "--project", str(tmp_path)], capsys)
    assert "invalid CUDA '--device 7' requested" in err


def test_image_size_not_a_stride_multiple_is_rounded_up_with_a_warning(yolov5n_pt, bus_jpg, tmp_path, log_lines):
    detect.run(weights=yolov5n_pt, source=bus_jpg, imgsz=(65, 65), project=tmp_path, nosave=True)
    assert "--img-size [65, 65] must be multiple of max stride 32, updating to [96, 96]" in "\n".join(log_lines)


# ---------------------------------------------------------------- offline

@pytest.fixture
def offline(monkeypatch):
    """No network: name lookups and connections fail at once, as on a machine without a cable."""
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def _fails_fast(fn, *args) -> str:
    t = time.monotonic()
    with pytest.raises(UserError) as e:
        fn(*args)
    assert time.monotonic() - t < 10
    message = str(e.value)
    assert "\n" not in message
    return message


def test_every_download_fails_fast_offline_saying_what_to_fetch_and_where(offline, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = _fails_fast(attempt_download, "yolov5s.pt")
    assert "https://github.com/ultralytics/yolov5/releases/download/v7.0/yolov5s.pt" in m
    assert f"put it at {tmp_path / 'yolov5s.pt'}" in m and not list(tmp_path.iterdir())  # no partial file

    base = {"path": str(tmp_path / "ds"), "train": "images", "val": "images", "names": ["a"]}
    m = _fails_fast(check_dataset, {**base, "download": "https://example.com/ds.zip"})
    assert "could not download https://example.com/ds.zip" in m and f"put the dataset at {tmp_path / 'ds'}" in m
    script = "download(['https://example.com/labels.zip'], Path(yaml['path']).parent)"
    m = _fails_fast(check_dataset, {**base, "download": script})
    assert "could not download https://example.com/labels.zip" in m and "put the dataset at" in m

    m = _fails_fast(check_file, "https://example.com/data/custom.yaml")
    assert "could not download https://example.com/data/custom.yaml" in m and str(tmp_path / "custom.yaml") in m
    m = _fails_fast(open_image, "https://example.com/bus.jpg")
    assert "cannot read image https://example.com/bus.jpg" in m
    assert not list(tmp_path.iterdir())


def test_detect_with_url_source_offline_is_one_line(offline, yolov5n_pt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = one_line_error("detect", ["--weights", str(yolov5n_pt), "--source", "https://example.com/bus.jpg",
                                    "--project", str(tmp_path)], capsys)
    assert "could not download https://example.com/bus.jpg" in err


def test_fonts_are_never_downloaded(offline):
    im = np.zeros((64, 96, 3), np.uint8)
    annotator = Annotator(im, pil=True, example="héllo")
    annotator.box_label([5, 20, 60, 50], "personne 0.91", color=(255, 0, 0))
    assert annotator.result().any()
