"""Label scan, label cache and LoadImagesAndLabels on small datasets written to tmp_path."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.data_helpers import BACKGROUNDS, CORRUPT, copy_coco8, make_broken_dataset
from utils.data import label_scan
from utils.data.datasets import IMG_FORMATS, LoadImagesAndLabels, img2label_paths
from utils.errors import UserError
from utils.data.image_files import list_image_files
from utils.data.label_scan import JPEG_END, read_label_file, verify_image_label


@pytest.fixture
def log(caplog):
    """Everything the 'yolov5' logger printed (it does not propagate, so its records are captured directly)."""
    logger = logging.getLogger("yolov5")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_formats_and_label_paths():
    assert {"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "dng", "mpo"} == set(IMG_FORMATS)
    sep = os.sep
    im = f"{sep}d{sep}images{sep}x{sep}images{sep}a.b.jpg"
    assert img2label_paths([im]) == [f"{sep}d{sep}images{sep}x{sep}labels{sep}a.b.txt"]


def test_broken_dataset_is_reported_file_by_file_and_the_good_images_kept(tmp_path, log):
    images = make_broken_dataset(tmp_path)
    ds = LoadImagesAndLabels(str(images), img_size=128, batch_size=4, augment=True, nc=80)
    text = log.text
    for name in CORRUPT:
        assert f"{images / name}.jpg: ignoring corrupt image/label" in text, name
    assert "line 1 has 4 columns" in text and "coordinates outside [0, 1]" in text
    assert "class 200, out of range for nc=80" in text and "non-finite value" in text
    assert f"{images / 'dupes'}.jpg: 1 duplicate labels removed" in text
    assert f"{images / 'truncated'}.jpg: corrupt JPEG restored and saved" in text
    for name in BACKGROUNDS:
        assert f"{images / name}.jpg (" in text
    kept = {Path(f).stem for f in ds.im_files}
    assert kept == {"000000000338", "000000000536", "000000000560", "000000000643", "truncated", "dupes", *BACKGROUNDS}
    assert not kept & set(CORRUPT)
    assert (images / "truncated.jpg").read_bytes()[-2:] == JPEG_END  # restored in place
    dupes = ds.labels[ds.im_files.index(str(images / "dupes.jpg"))]
    assert dupes.shape == (2, 5)
    im, labels, path, shapes = ds[0]
    assert im.shape == (3, 128, 128) and im.dtype == torch.uint8 and labels.shape[1] == 6


def test_scan_counts_and_cache_hit(tmp_path, log, monkeypatch, capsys):
    images = make_broken_dataset(tmp_path)
    LoadImagesAndLabels(str(images), img_size=64, nc=80)
    cache = images.parent.parent / "labels" / "train.cache"
    assert cache.is_file() and "New cache created" in log.text
    assert f"Scanning {cache.with_suffix('')}... 6 images, 2 backgrounds, 5 corrupt: 100%" in capsys.readouterr().err
    log.clear()

    def no_scan(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(label_scan, "_scan", no_scan)
    ds = LoadImagesAndLabels(str(images), img_size=64, nc=80)
    assert len(ds) == 8 and "New cache created" not in log.text
    assert f"Scanning {cache}... 6 images, 2 backgrounds, 5 corrupt: 100%" in capsys.readouterr().err
    assert "ignoring corrupt image/label" in log.text  # warnings are shown again from the cache
    monkeypatch.undo()
    ds = LoadImagesAndLabels(str(images), img_size=64)  # another nc is another hash: rescanned, class 200 allowed
    assert "class200" in {Path(f).stem for f in ds.im_files} and "New cache created" in log.text


def test_cache_roundtrip_keeps_labels_and_polygons(tmp_path):
    root = copy_coco8(tmp_path)
    poly = root / "labels" / "train" / "000000000536.txt"
    poly.write_text("3 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n1 0.5 0.5 0.2 0.2\n")
    a = LoadImagesAndLabels(str(root / "images" / "train"), img_size=64)
    b = LoadImagesAndLabels(str(root / "images" / "train"), img_size=64)  # from the cache
    assert a.im_files == b.im_files and np.array_equal(a.shapes, b.shapes)
    for la, lb in zip(a.labels, b.labels):
        np.testing.assert_array_equal(la, lb)
    i = a.im_files.index(str(root / "images" / "train" / "000000000536.jpg"))
    np.testing.assert_allclose(a.labels[i][0], [3, 0.3, 0.35, 0.4, 0.5], atol=1e-6)
    assert len(b.segments[i]) == 2 and b.segments[i][0].shape == (4, 2)  # the box row becomes a 4-point polygon


def test_stale_and_corrupt_caches_are_rebuilt(tmp_path, log):
    root = copy_coco8(tmp_path)
    images = root / "images" / "train"
    LoadImagesAndLabels(str(images), img_size=64)
    cache = root / "labels" / "train.cache"
    lb = root / "labels" / "train" / "000000000536.txt"
    lb.write_text("7 0.5 0.5 0.1 0.1\n")  # dataset changed: the cache is stale
    ds = LoadImagesAndLabels(str(images), img_size=64)
    assert ds.labels[ds.im_files.index(str(images / "000000000536.jpg"))][:, 0].tolist() == [7]
    cache.write_bytes(b"PK\x03\x04 not really a zip")
    log.clear()
    ds = LoadImagesAndLabels(str(images), img_size=64)
    assert len(ds) == 4 and "is unreadable" in log.text and "New cache created" in log.text


def test_read_only_labels_folder_warns_and_carries_on(tmp_path, log):
    root = copy_coco8(tmp_path)
    labels = root / "labels"
    labels.chmod(0o555)
    try:
        ds = LoadImagesAndLabels(str(root / "images" / "val"), img_size=64)
    finally:
        labels.chmod(0o755)
    assert len(ds) == 4
    assert f"Cache directory {labels} is not writeable" in log.text
    assert not (labels / "val.cache").exists()


def test_no_labels_for_training_names_where_they_were_looked_for(tmp_path):
    root = copy_coco8(tmp_path)
    for f in (root / "labels" / "train").iterdir():
        f.unlink()
    with pytest.raises(UserError, match=r"no labels found in .*labels.train .*labels.train.000000000338.txt"):
        LoadImagesAndLabels(str(root / "images" / "train"), img_size=64, augment=True)
    ds = LoadImagesAndLabels(str(root / "images" / "train"), img_size=64)  # validation may have none
    assert len(ds) == 4


def test_missing_path_and_empty_folder_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        LoadImagesAndLabels(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images found"):
        LoadImagesAndLabels(str(tmp_path / "empty"))


def test_txt_image_list_with_relative_lines(tmp_path):
    root = copy_coco8(tmp_path)
    lst = root / "train.txt"
    lst.write_text("./images/train/000000000536.jpg\nimages/val/000000000142.jpg\n")
    assert list_image_files(lst) == [str(root / "images/train/000000000536.jpg"),
                                     str(root / "images/val/000000000142.jpg")]
    ds = LoadImagesAndLabels(str(lst), img_size=64)
    assert len(ds) == 2 and (root / "train.cache").is_file()


def test_label_rows_parsing(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("1 0.5 0.5 0.2 0.2\n\n2 0.1 0.1 0.5 0.1 0.3 0.4\n")
    labels, segments, dupes = read_label_file(str(f), nc=3)
    assert labels.shape == (2, 5) and len(segments) == 2 and dupes == 0
    np.testing.assert_allclose(labels[1], [2, 0.3, 0.25, 0.4, 0.3], atol=1e-6)
    f.write_text("1 0.5 0.5 0.2 0.2\n\n1 0.5 0.5 0.2\n")
    with pytest.raises(ValueError, match="^line 3 has 4 columns"):  # blank lines still count
        read_label_file(str(f))
    for text, msg in [("1.5 0.5 0.5 0.2 0.2", "non-negative integer"), ("-1 0.5 0.5 0.2 0.2", "non-negative integer"),
                      ("1 a 0.5 0.2 0.2", "not a number"), ("1 0.5 0.5 0.2 0.2 0.1", "6 columns"),
                      ("3 0.5 0.5 0.2 0.2", "out of range for nc=3"), ("1 -0.1 0.5 0.2 0.2", "outside")]:
        f.write_text(text + "\n")
        with pytest.raises(ValueError, match=msg):
            read_label_file(str(f), nc=3)


def test_small_images_and_exif_rotation(tmp_path):
    tiny = tmp_path / "images" / "tiny.png"
    tiny.parent.mkdir()
    Image.new("RGB", (8, 40)).save(tiny)
    r = verify_image_label(str(tiny), str(tmp_path / "labels" / "tiny.txt"))
    assert r.status == "corrupt" and "<10 pixels" in r.msg
    rotated = tmp_path / "images" / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 60x30, seen 30x60
    Image.new("RGB", (60, 30)).save(rotated, exif=exif)
    r = verify_image_label(str(rotated), str(tmp_path / "labels" / "rot.txt"))
    assert r.status == "missing" and r.shape == (30, 60)


def test_rect_batches_and_letterbox_shapes(tmp_path):
    root = copy_coco8(tmp_path)
    ds = LoadImagesAndLabels(str(root / "images" / "val"), img_size=160, batch_size=2, rect=True, stride=32, pad=0.5)
    ar = ds.shapes[:, 1] / ds.shapes[:, 0]
    assert (np.diff(ar) >= 0).all()  # sorted by aspect ratio
    assert ds.batch_shapes.shape == (2, 2) and (ds.batch_shapes % 32 == 0).all()
    im, labels, path, ((h0, w0), ((rh, rw), pad)) = ds[0]
    assert tuple(im.shape[1:]) == tuple(ds.batch_shapes[0])
    assert (h0, w0) == tuple(ds.shapes[0][::-1]) and path == ds.im_files[0]
    assert ds.label_files == img2label_paths(ds.im_files)


def test_single_cls_min_items_and_image_caches(tmp_path):
    root = copy_coco8(tmp_path)
    images = root / "images" / "train"
    ds = LoadImagesAndLabels(str(images), img_size=64, single_cls=True, min_items=6, cache_images="ram")
    assert all(len(lb) >= 6 and (lb[:, 0] == 0).all() for lb in ds.labels) and len(ds) < 4
    assert ds.cache == "ram" and all(x is not None and max(x.shape[:2]) == 64 for x in ds.ims)
    ds = LoadImagesAndLabels(str(images), img_size=64, cache_images="disk")
    assert ds.cache == "disk" and all(f.is_file() for f in ds.npy_files)
    assert ds.load_image(0)[0].shape[:2] == ds.load_image(0)[2]
    with pytest.raises(UserError, match="--cache"):
        LoadImagesAndLabels(str(images), img_size=64, cache_images="gpu")


def test_augmented_items_keep_boxes_normalized(tmp_path):
    root = copy_coco8(tmp_path)
    hyp = {"mosaic": 1.0, "mixup": 1.0, "copy_paste": 0.0, "degrees": 5.0, "translate": 0.1, "scale": 0.5,
           "shear": 2.0, "perspective": 0.0, "hsv_h": 0.015, "hsv_s": 0.7, "hsv_v": 0.4, "flipud": 0.5, "fliplr": 0.5}
    ds = LoadImagesAndLabels(str(root / "images" / "train"), img_size=96, augment=True, hyp=hyp)
    for i in range(len(ds)):
        im, labels, _, shapes = ds[i]
        assert im.shape == (3, 96, 96) and shapes is None
        assert len(labels) and (labels[:, 2:] >= 0).all() and (labels[:, 2:] <= 1).all()
        assert (labels[:, 4:] > 0).all()


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_quad_collate_never_makes_an_empty_batch(n):
    """--quad with a batch (or a last batch) not a multiple of 4: the leftover images give one upscaled image."""
    batch = [(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.2]]), f"{i}.jpg", None)
             for i in range(n)]
    im, labels, paths, _ = LoadImagesAndLabels.collate_fn4(batch)
    assert im.shape == (max(n // 4, 1), 3, 16, 16) and len(paths) == max(n // 4, 1) and len(labels) >= 1
