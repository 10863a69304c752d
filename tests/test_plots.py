"""Plots: batch previews with boxes where the objects are, label statistics, curves, matrices, crops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tests.data_helpers import copy_coco8
from utils.annotator import colors
from utils.data.loaders import create_dataloader
from utils.evaluation.metrics import class_curves
from utils.evaluation.plots import (feature_visualization, hist2d, output_to_target, plot_ap_curves,
                                    plot_confusion_matrix, plot_evolve, plot_images, plot_labels, plot_mc_curve,
                                    plot_pr_curve, plot_results, plot_val_study, save_one_box)

NAMES = {0: "person", 1: "bicycle", 2: "car"}


def test_plot_images_draws_each_box_on_its_tile(tmp_path):
    images = torch.zeros(4, 3, 100, 100)  # black tiles, float in [0, 1]
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.4, 0.4], [3, 2, 0.25, 0.25, 0.3, 0.3]])
    f = tmp_path / "train_batch0.png"  # lossless, so pixel colours can be checked
    plot_images(images, targets, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"], f, names=NAMES)
    im = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert im.shape == (200, 200, 3)
    # class 1's box outline: tile 0, x from 30 to 70 at the box's mid height (y = 50)
    assert np.abs(im[50, 30] - colors(1)).max() < 60 and im[50, 50].max() < 60
    # class 2's box: tile 3 (bottom-right, offset 100, 100), left edge at x = 100 + 10
    assert np.abs(im[100 + 25, 100 + 10] - colors(2)).max() < 60


def test_plot_images_with_predictions_and_pixel_boxes(tmp_path):
    images = np.full((2, 3, 64, 64), 255, np.uint8)
    preds = [torch.tensor([[8.0, 8, 40, 40, 0.9, 0], [1, 1, 5, 5, 0.1, 2]]), torch.zeros((0, 6))]
    targets = output_to_target(preds)
    assert targets.shape == (2, 7) and targets[0].tolist() == pytest.approx([0, 0, 24, 24, 32, 32, 0.9])
    f = tmp_path / "val_batch0_pred.png"
    plot_images(images, targets, None, f, names=NAMES)
    im = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert np.abs(im[24, 8] - colors(0)).max() < 60  # the confident box is drawn
    assert im[3, 1].min() > 200  # the 0.1-confidence box is not
    assert output_to_target([]).shape == (0, 7)


def test_plot_images_blends_each_mask_into_its_tile(tmp_path):
    """Seg batches: an index mask per image (truth with overlap) and a 0/1 mask per row (predictions, truth without
    overlap) both paint their target's class colour at 60% inside its tile; a prediction under 0.25 paints nothing."""
    images = torch.zeros(4, 3, 100, 100)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.4, 0.4], [3, 2, 0.25, 0.25, 0.3, 0.3], [3, 3, 0.5, 0.5, 0.2, 0.2]])
    index = torch.zeros(4, 25, 25)  # at 1/4 scale, as --mask-ratio 4
    index[0, 10:15, 10:15], index[3, 0:5, 0:5], index[3, 20:25, 20:25] = 1, 1, 2
    f = tmp_path / "labels.png"
    plot_images(images, targets, None, f, names=NAMES, masks=index, index_masks=True)
    im = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert np.abs(im[50, 50] - 0.6 * np.array(colors(1))).max() <= 2  # tile 0, mask 1 of image 0
    assert np.abs(im[100 + 5, 100 + 5] - 0.6 * np.array(colors(2))).max() <= 2  # tile 3, its first target
    assert np.abs(im[100 + 90, 100 + 90] - 0.6 * np.array(colors(3))).max() <= 2  # tile 3, its second target
    assert im[100 + 50, 50].max() == 0  # tile 2 has no target
    plot_images(images, targets[:1], None, f, names=NAMES, masks=index[:, ::2, ::2].clip(0, 1), index_masks=True)
    im = np.asarray(Image.open(f).convert("RGB")).astype(int)  # one instance per image: index masks of 0s and 1s
    assert np.abs(im[50, 50] - 0.6 * np.array(colors(1))).max() <= 2

    preds = [torch.tensor([[10.0, 10, 90, 90, 0.9, 1]]), torch.zeros((0, 6)), torch.zeros((0, 6)),
             torch.tensor([[0.0, 0, 50, 50, 0.1, 2]])]
    per_row = torch.zeros(2, 100, 100)
    per_row[0, 40:60, 40:60], per_row[1, 0:20, 0:20] = 1, 1
    f = tmp_path / "pred.png"
    plot_images(images, output_to_target(preds), None, f, names=NAMES, masks=per_row)
    im = np.asarray(Image.open(f).convert("RGB")).astype(int)
    assert np.abs(im[50, 50] - 0.6 * np.array(colors(1))).max() <= 2
    assert im[100 + 10, 100 + 10].max() == 0  # the 0.1-confidence prediction's mask is left out


def test_train_batch_and_labels_of_a_real_loader(tmp_path):
    root = copy_coco8(tmp_path)
    loader, ds = create_dataloader(str(root / "images" / "train"), 128, 4, 32, workers=0)
    imgs, targets, paths, _ = next(iter(loader))
    plot_images(imgs, targets, paths, tmp_path / "run" / "train_batch0.jpg", names=NAMES)
    plot_labels(np.concatenate(ds.labels, 0), {i: f"class{i}" for i in range(80)}, tmp_path / "run")
    for name in ("train_batch0.jpg", "labels.jpg", "labels_correlogram.jpg"):
        with Image.open(tmp_path / "run" / name) as im:
            assert min(im.size) > 100, name


def test_plot_results(tmp_path):
    cols = ["epoch", "train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
            "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss", "x/lr0",
            "x/lr1", "x/lr2"]
    rows = np.random.rand(5, len(cols))
    rows[:, 0] = range(5)
    lines = [",".join(f"{c:>20s}" for c in cols)] + [",".join(f"{v:>20.5g}" for v in r) for r in rows]
    (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
    plot_results(tmp_path / "results.csv")
    assert (tmp_path / "results.png").stat().st_size > 10_000
    assert list(pd.read_csv(tmp_path / "results.csv", skipinitialspace=True).columns)[1].strip() == cols[1]


def test_pr_mc_curves_and_confusion_matrix(tmp_path):
    px = np.linspace(0, 1, 1000)
    py = [1 - px ** 2, 1 - px]
    ap = np.array([[0.66] * 10, [0.5] * 10])
    plot_pr_curve(px, py, ap, tmp_path / "PR_curve.png", {0: "person", 1: "car"})
    plot_mc_curve(px, np.stack([px * (1 - px), px * 0.5]), tmp_path / "F1_curve.png", {0: "a", 1: "b"}, ylabel="F1")
    plot_pr_curve(px, [], np.zeros((0, 10)), tmp_path / "empty_PR.png")
    m = np.random.randint(0, 20, (4, 4))
    plot_confusion_matrix(m, 3, NAMES, tmp_path)
    for f in ("PR_curve.png", "F1_curve.png", "empty_PR.png", "confusion_matrix.png"):
        assert (tmp_path / f).stat().st_size > 10_000, f


def test_ap_curves_of_ranked_predictions_are_four_figures(tmp_path):
    tp, conf = np.array([[True], [False], [True]]), np.array([0.9, 0.8, 0.7])
    plot_ap_curves(class_curves(tp, conf, np.zeros(3), np.zeros(2)), tmp_path, {0: "person", 1: "bike"})
    for name in ("PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_plot_evolve_and_val_study(tmp_path):
    keys = ["metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss",
            "val/obj_loss", "val/cls_loss", "lr0", "momentum"]
    data = np.random.rand(6, len(keys))
    pd.DataFrame(data, columns=keys).to_csv(tmp_path / "evolve.csv", index=False)
    plot_evolve(tmp_path / "evolve.csv")
    assert (tmp_path / "evolve.png").is_file()
    np.savetxt(tmp_path / "study_yolov5n.txt", np.random.rand(3, 10), fmt="%10.4g")
    plot_val_study(dir=tmp_path, x=[256, 384, 512])
    assert (tmp_path / "study.png").is_file()


def test_save_one_box_crops_and_saves(tmp_path):
    im = np.zeros((100, 200, 3), np.uint8)
    im[..., 2] = 255  # red in BGR
    crop = save_one_box(torch.tensor([50, 20, 150, 60]), im, tmp_path / "crops" / "x.jpg", gain=1.0, pad=0, BGR=True)
    assert crop.shape == (40, 100, 3)
    saved = np.asarray(Image.open(tmp_path / "crops" / "x.jpg"))
    assert saved.shape == (40, 100, 3) and saved[20, 50, 0] > 200 and saved[20, 50, 2] < 60  # red stays red
    square = save_one_box([0, 0, 10, 40], im, square=True, gain=1.0, pad=0, save=False)
    assert square.shape[:2] == (40, 25)  # square 40x40 around the centre, clipped at the left edge


def test_feature_visualization(tmp_path):
    feature_visualization(torch.rand(1, 12, 8, 8), "models.common.Conv", 2, n=10, save_dir=tmp_path)
    assert (tmp_path / "stage2_Conv_features.png").is_file()
    assert np.load(tmp_path / "stage2_Conv_features.npy").shape == (12, 8, 8)
    feature_visualization(torch.rand(1, 12, 8, 8), "models.yolo.Detect", 24, save_dir=tmp_path)
    assert not list(tmp_path.glob("stage24*"))


def test_hist2d_is_log_density():
    x = np.array([0.0, 0.0, 0.0, 1.0])
    d = hist2d(x, x, n=3)
    assert d[0] == pytest.approx(np.log(4)) and d[3] == pytest.approx(np.log(2))
