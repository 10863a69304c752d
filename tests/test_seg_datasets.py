"""The segmentation dataset and loader: polygon labels scanned, carried through letterbox and augmentation into masks
that cover the polygons, batched as YOLOv5 v7.0 batches them; bad labels reported, never a crash."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path
from tests.data_helpers import GOOD_IMAGE, copy_coco8
from utils.data.loaders import create_dataloader
from utils.data.seg_datasets import LoadImagesAndLabelsAndMasks
from utils.errors import UserError
from utils.files import ROOT, yaml_load

COCO8_SEG = ROOT / "data" / "coco8-seg"
HYP = yaml_load(ROOT / "data" / "hyps" / "hyp.scratch-low.yaml")
IMGSZ, RATIO = 320, 4


@pytest.fixture
def coco8_seg(tmp_path) -> Path:
    """data/coco8-seg copied into tmp_path (label caches are written beside the labels)."""
    root = tmp_path / "coco8-seg"
    shutil.copytree(COCO8_SEG, root, ignore=shutil.ignore_patterns("*.cache", "*.npy"))
    return root


def _one_batch(path: Path, **kwargs) -> tuple:
    loader, dataset = create_dataloader(str(path), IMGSZ, 4, 32, hyp=HYP, workers=0, segments=True, **kwargs)
    return next(iter(loader)), dataset


def _label_polygons(label_file: Path) -> list[np.ndarray]:
    """The polygons of a label file, normalized (k, 2), read here independently of the label scan."""
    rows = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
    return [np.array(r[1:], dtype=np.float64).reshape(-1, 2) for r in rows]


def _full_size_fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Each polygon filled at full image resolution: (n, h, w) bool."""
    out = np.zeros((len(polygons), *shape), np.uint8)
    for i, p in enumerate(polygons):
        cv2.fillPoly(out[i], [np.round(p).astype(np.int32)], 1)
    return out.astype(bool)


def _letterboxed_polygons(im_file: str, shapes: tuple) -> list[np.ndarray]:
    (h0, w0), ((rh, rw), (padw, padh)) = shapes
    label_file = Path(im_file.replace("/images/", "/labels/")).with_suffix(".txt")
    return [p * [w0 * rw, h0 * rh] + [padw, padh] for p in _label_polygons(label_file)]


def test_val_loader_overlap_masks_cover_the_polygons(coco8_seg):
    """One index mask per image at 1/4 size, numbering every instance; its pixels x 16 match the polygons' area."""
    (im, labels, paths, shapes, masks), _ = _one_batch(coco8_seg / "images" / "val", overlap=True)
    assert im.shape == (4, 3, IMGSZ, IMGSZ) and masks.shape == (4, IMGSZ // RATIO, IMGSZ // RATIO)
    assert labels.shape == (44, 6) and np.bincount(labels[:, 0].int().numpy()).tolist() == [4, 14, 20, 6]
    for i in range(4):
        full = _full_size_fill(_letterboxed_polygons(paths[i], shapes[i]), (IMGSZ, IMGSZ)).any(0)
        assert abs(int((masks[i] > 0).sum()) * RATIO**2 - full.sum()) <= 0.06 * full.sum()  # edges at 1/4 size
        assert int(masks[i].max()) == int((labels[:, 0] == i).sum())


def test_val_loader_separate_masks_match_each_polygon(coco8_seg):
    """Without overlap, one 0/1 mask per label in label-file order, each covering its own polygon."""
    (_, labels, paths, shapes, masks), _ = _one_batch(coco8_seg / "images" / "val", overlap=False)
    assert masks.shape == (44, IMGSZ // RATIO, IMGSZ // RATIO) and set(masks.unique().tolist()) == {0, 1}
    polygons = [p for path, s in zip(paths, shapes) for p in _letterboxed_polygons(path, s)]
    full = _full_size_fill(polygons, (IMGSZ, IMGSZ))
    for m, f in zip(masks.numpy(), full):
        assert abs(int(m.sum()) * RATIO**2 - int(f.sum())) <= 0.1 * f.sum() + 4 * RATIO**2
        inter = (m.astype(bool) & f[RATIO // 2::RATIO, RATIO // 2::RATIO]).sum()
        assert inter >= 0.8 * m.sum() - 8  # on the polygon, not beside it


def test_rect_batches_get_masks_of_their_own_shape(coco8_seg):
    """val's rectangular batches: each mask is 1/4 of its letterboxed, stride-aligned image, not of a square."""
    loader, _ = create_dataloader(str(coco8_seg / "images" / "val"), IMGSZ, 1, 32, workers=0, rect=True,
                                  segments=True)
    shapes = set()
    for im, labels, _, _, masks in loader:
        assert masks.shape == (1, im.shape[2] // RATIO, im.shape[3] // RATIO)
        assert int(masks.max()) == len(labels)
        shapes.add(tuple(im.shape[2:]))
    assert len(shapes) > 1 and all(s % 32 == 0 for shape in shapes for s in shape)


def test_overlap_labels_sorted_by_mask_area_and_equal_to_the_separate_masks(coco8_seg):
    """v7.0's overlap encoding: labels reordered largest mask first; painting the separate masks in that order
    gives the index mask."""
    (_, lb_sep, _, _, sep), _ = _one_batch(coco8_seg / "images" / "val", overlap=False)
    (_, lb_ovl, _, _, ovl), _ = _one_batch(coco8_seg / "images" / "val", overlap=True)
    assert sep.shape == (44, IMGSZ // RATIO, IMGSZ // RATIO) and ovl.shape == (4, IMGSZ // RATIO, IMGSZ // RATIO)
    rows = {tuple(r.tolist()): k for k, r in enumerate(lb_sep)}
    for i in range(4):
        order = [rows[tuple(r.tolist())] for r in lb_ovl[lb_ovl[:, 0] == i]]
        areas = [int(sep[k].sum()) for k in order]
        nonempty = [a for a in areas if a]
        assert areas[:len(areas) - len(nonempty)] == [0] * (len(areas) - len(nonempty))
        assert nonempty == sorted(nonempty, reverse=True)
        painted = np.zeros(sep.shape[1:], np.uint8)
        for value, k in enumerate(order, start=1):
            painted[sep[k].numpy() > 0] = value
        np.testing.assert_array_equal(painted, ovl[i].numpy())


@pytest.mark.parametrize("seed", range(3))
def test_augmented_masks_stay_on_their_boxes(coco8_seg, seed):
    """Mosaic, copy-paste, perspective, mixup and both flips move masks and boxes together."""
    hyp = {**HYP, "mosaic": 1.0, "mixup": 0.5, "copy_paste": 0.5, "degrees": 5.0, "shear": 2.0, "flipud": 0.5,
           "fliplr": 0.5}
    random.seed(seed)
    np.random.seed(seed)
    dataset = LoadImagesAndLabelsAndMasks(str(coco8_seg / "images" / "val"), IMGSZ, 4, augment=True, hyp=hyp,
                                          overlap=False)
    for i in range(len(dataset)):
        im, labels, _, shapes, masks = dataset[i]
        assert shapes is None and masks.shape == (len(labels), IMGSZ // RATIO, IMGSZ // RATIO)
        for lb, m in zip(labels.numpy(), masks.numpy()):
            x, y, w, h = lb[2:] * IMGSZ / RATIO
            if min(w, h) < 3:
                continue
            ys, xs = np.nonzero(m)
            assert len(xs), f"box {lb} has an empty mask"
            assert xs.min() >= x - w / 2 - 1.5 and xs.max() + 1 <= x + w / 2 + 1.5
            assert ys.min() >= y - h / 2 - 1.5 and ys.max() + 1 <= y + h / 2 + 1.5


def test_detection_labels_are_refused_in_one_line(tmp_path):
    root = copy_coco8(tmp_path)
    with pytest.raises(UserError, match="have no polygons, only boxes") as e:
        LoadImagesAndLabelsAndMasks(str(root / "images" / "train"), IMGSZ)
    assert "\n" not in str(e.value)


def _dataset_with_labels(tmp_path: Path, rows: dict[str, str]) -> Path:
    """One copy of a coco8 image per entry, with the given label text; returns the images folder."""
    images, labels = tmp_path / "d" / "images" / "train", tmp_path / "d" / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for name, text in rows.items():
        shutil.copy(GOOD_IMAGE, images / f"{name}.jpg")
        (labels / f"{name}.txt").write_text(text)
    return images


def test_corrupt_polygon_is_reported_by_file_and_line_and_skipped(tmp_path, log_lines):
    images = _dataset_with_labels(tmp_path, {"good": "3 0.1 0.1 0.4 0.1 0.4 0.4\n",
                                             "odd": "3 0.1 0.1 0.4 0.1 0.4 0.4\n5 0.2 0.2 0.3 0.2 0.3\n",
                                             "outside": "3 0.1 0.1 1.4 0.1 0.4 0.4\n"})
    dataset = LoadImagesAndLabelsAndMasks(str(images), IMGSZ, overlap=False)
    assert [Path(f).stem for f in dataset.im_files] == ["good"]
    text = "\n".join(log_lines)
    assert "odd.jpg: ignoring corrupt image/label: line 2 has 6 columns" in text
    assert "outside.jpg: ignoring corrupt image/label: line 1 has coordinates outside [0, 1]" in text
    _, labels, _, _, masks = dataset[0]
    assert len(labels) == 1 and masks.shape == (1, IMGSZ // RATIO, IMGSZ // RATIO) and masks.any()


def test_box_rows_get_rectangle_masks_in_mixed_and_box_only_files(tmp_path):
    images = _dataset_with_labels(tmp_path, {"mixed": "0 0.5 0.5 0.5 0.25\n1 0.1 0.1 0.3 0.1 0.1 0.3\n",
                                             "boxes": "2 0.5 0.5 0.25 0.5\n"})
    dataset = LoadImagesAndLabelsAndMasks(str(images), IMGSZ, overlap=False)
    for i in range(len(dataset)):
        im, labels, _, _, masks = dataset[i]
        for lb, m in zip(labels.numpy(), masks.numpy()):
            w, h = lb[4] * im.shape[2] / RATIO, lb[5] * im.shape[1] / RATIO
            if lb[1] in (0, 2):  # a box row: its mask is the box
                assert abs(m.sum() - w * h) <= 2 * (w + h) + 4
            else:  # the triangle fills half its box
                assert abs(m.sum() - w * h / 2) <= w + h + 4


def test_quad_is_refused_for_segmentation(coco8_seg):
    with pytest.raises(UserError, match="--quad"):
        create_dataloader(str(coco8_seg / "images" / "val"), IMGSZ, 4, 32, segments=True, quad=True)


def test_coco128_seg_scan_counts():
    """The shared coco128-seg: 98 images with polygons, 2 empty label files, 28 without one; 746 instances."""
    images = shared_path("datasets/coco128-seg/images/train2017")
    dataset = LoadImagesAndLabelsAndMasks(str(images), IMGSZ)
    assert len(dataset) == 128 and sum(len(lb) for lb in dataset.labels) == 746
    assert sum(len(s) for s in dataset.segments) == 746
    assert sum(bool(len(lb)) for lb in dataset.labels) == 98


def test_resized_sides_truncated_as_v7_while_detection_rounds_up(tmp_path):
    """A 448x336 image at size 90 is 67.5 px high: the seg dataset keeps 67 (v7.0's int(), which its segment/val.py
    figures depend on), the detection dataset 68 (YOLOv5's math.ceil since Dec 2022, which its val.py figures use)."""
    from utils.data.datasets import LoadImagesAndLabels

    images = _dataset_with_labels(tmp_path, {"a": "0 0.1 0.1 0.9 0.1 0.5 0.9\n"})
    assert LoadImagesAndLabelsAndMasks(str(images), 90).load_image(0)[2] == (67, 90)
    assert LoadImagesAndLabels(str(images), 90).load_image(0)[2] == (68, 90)
