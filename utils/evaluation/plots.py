"""Every figure a run folder gets: batch mosaics, label statistics, training curves, PR/F1 curves, confusion matrix.

Figures are drawn on matplotlib Figure objects (no pyplot state, no display needed) and text with the DejaVuSans
font that ships with matplotlib, so nothing is ever downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from utils.annotator import Annotator, colors
from utils.boxes import clip_boxes, xywh2xyxy, xyxy2xywh
from utils.errors import UserError
from utils.files import increment_path
from utils.logger import LOGGER
from utils.evaluation.scores import ClassCurves, fitness, smooth

MAX_MOSAIC_SIZE = 1920  # pixels, longest side of a batch preview
MAX_SUBPLOTS = 16  # images per batch preview
MIN_PLOT_CONF = 0.25  # predictions at or below this confidence are left out of batch previews (boxes and masks)


def _numpy(x) -> np.ndarray:
    """A tensor (any device, any float type) or array-like as a numpy array."""
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _name(names, c: int) -> str:
    """Class c's name from a {id: name} dict or a list, or the id itself when it has none."""
    try:
        return str(names[c]) if names is not None and len(names) else str(c)
    except (KeyError, IndexError):
        return str(c)


def _tile(images: np.ndarray, ns: int) -> np.ndarray:
    """(b, 3, h, w) images on an ns x ns white grid, row by row."""
    b, _, h, w = images.shape
    mosaic = np.full((ns * h, ns * w, 3), 255, dtype=np.uint8)
    for i in range(b):
        r, c = divmod(i, ns)
        mosaic[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i].transpose(1, 2, 0)
    return mosaic


def plot_images(images, targets, paths: list | None = None, fname: str | Path = "images.jpg",
                names: dict | list | None = None, masks=None, index_masks: bool = False) -> None:
    """A grid of up to 16 batch images with their boxes and class names (conf too when targets have 7 columns).

    targets rows are [image index, cls, xc, yc, w, h(, conf)], normalized or in pixels of the batch images. masks (seg
    batches, as v7.0 draws them): one 0/1 mask per target row, or with index_masks one mask per image whose pixels
    hold k for its k-th target (the overlap masks of seg training).
    """
    images = _numpy(images)[:MAX_SUBPLOTS].astype(np.float32)
    targets = _numpy(targets)
    targets = targets.reshape(-1, targets.shape[-1]) if targets.size else np.zeros((0, 6), dtype=np.float32)
    masks = None if masks is None or not len(masks) else _numpy(masks)
    if images.size and images.max() <= 1:
        images *= 255  # float images in [0, 1]
    b, _, h, w = images.shape
    ns = math.ceil(b ** 0.5)
    mosaic = _tile(images.clip(0, 255).astype(np.uint8), ns)
    scale = MAX_MOSAIC_SIZE / ns / max(h, w)
    if scale < 1:
        h, w = math.ceil(scale * h), math.ceil(scale * w)
        mosaic = cv2.resize(mosaic, (w * ns, h * ns))
    tiles = [((i % ns) * w, (i // ns) * h, w, h) for i in range(b)]
    for i, tile in enumerate(tiles if masks is not None else ()):
        mine = targets[:, 0] == i
        if mine.any():
            image_masks = masks[i] == np.arange(1, mine.sum() + 1)[:, None, None] if index_masks else masks[mine]
            _draw_masks(mosaic, image_masks.astype(np.float32), targets[mine], tile)
    fs = max(int((h + w) * ns * 0.008), 12)  # label font size in pixels
    annotator = Annotator(mosaic, line_width=max(round(fs / 10), 1), font_size=fs, pil=True)
    for i, (x, y, w, h) in enumerate(tiles):
        annotator.rectangle([x, y, x + w, y + h], None, (255, 255, 255), width=2)
        if paths:
            annotator.text((x + 5, y + 5), Path(paths[i]).name[:40], txt_color=(220, 220, 220))
        _draw_targets(annotator, targets[targets[:, 0] == i], (x, y, w, h), scale, names)
    fname = Path(fname)
    fname.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(annotator.result()).save(fname)


def _draw_masks(mosaic: np.ndarray, masks: np.ndarray, ti: np.ndarray, tile: tuple) -> None:
    """Each target's mask blended into its tile of the mosaic in its class colour (60%); predictions below 0.25 are
    left out, as their boxes are."""
    x, y, w, h = tile
    region = mosaic[y:y + h, x:x + w]
    for mask, row in zip(masks, ti):
        if len(row) > 6 and row[6] <= MIN_PLOT_CONF:
            continue
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        on = mask > 0.5
        region[on] = region[on] * 0.4 + np.array(colors(int(row[1]))) * 0.6


def _draw_targets(annotator: Annotator, ti: np.ndarray, tile: tuple, scale: float, names) -> None:
    """Boxes of one image drawn in its tile; predictions (a conf column) below 0.25 are left out."""
    if not len(ti):
        return
    x, y, w, h = tile
    boxes = xywh2xyxy(ti[:, 2:6].copy())
    if boxes.max() <= 1.01:  # normalized
        boxes[:, [0, 2]] *= w
        boxes[:, [1, 3]] *= h
    elif scale < 1:  # pixels of the unscaled images
        boxes *= scale
    boxes[:, [0, 2]] += x
    boxes[:, [1, 3]] += y
    conf = ti[:, 6] if ti.shape[1] > 6 else None
    for j, box in enumerate(boxes):
        cls = int(ti[j, 1])
        if conf is not None and conf[j] <= MIN_PLOT_CONF:
            continue
        label = _name(names, cls) if conf is None else f"{_name(names, cls)} {conf[j]:.1f}"
        annotator.box_label(box, label, color=colors(cls))


def output_to_target(output: list[torch.Tensor], max_det: int = 300) -> np.ndarray:
    """NMS output (per image (n, 6) xyxy, conf, cls) -> rows [image index, cls, xc, yc, w, h, conf] for plot_images."""
    rows = []
    for i, o in enumerate(output):
        box, conf, cls = o[:max_det, :6].detach().cpu().float().split((4, 1, 1), 1)
        j = torch.full((conf.shape[0], 1), i, dtype=torch.float32)
        rows.append(torch.cat((j, cls, xyxy2xywh(box), conf), 1))
    return torch.cat(rows, 0).numpy() if rows else np.zeros((0, 7), dtype=np.float32)


def hist2d(x: np.ndarray, y: np.ndarray, n: int = 100) -> np.ndarray:
    """Log density of each (x, y) point in an n x n histogram, for colouring scatter plots."""
    xedges, yedges = np.linspace(x.min(), x.max(), n), np.linspace(y.min(), y.max(), n)
    hist, xedges, yedges = np.histogram2d(x, y, (xedges, yedges))
    xi = np.clip(np.digitize(x, xedges) - 1, 0, hist.shape[0] - 1)
    yi = np.clip(np.digitize(y, yedges) - 1, 0, hist.shape[1] - 1)
    return np.log(hist[xi, yi] + 1)


def _box_outlines(labels: np.ndarray, size: int = 2000, n: int = 1000) -> Image.Image:
    """Up to n label boxes drawn centred on one white canvas: the spread of box shapes at a glance."""
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    boxes = labels[:n].copy()
    boxes[:, 1:3] = 0.5
    boxes[:, 1:] = xywh2xyxy(boxes[:, 1:]) * size
    for cls, *box in boxes:
        draw.rectangle(box, width=1, outline=colors(int(cls)))
    return canvas


def _class_histogram(ax, c: np.ndarray, names) -> None:
    """Instances per class, bars in class colours, names under them while they fit (up to 100 classes)."""
    nc = max(int(c.max()) + 1 if c.size else 1, len(names or ()))
    counts = np.bincount(c.astype(int), minlength=nc)
    ax.bar(range(nc), counts, width=0.8, color=[np.array(colors(i)) / 255 for i in range(nc)])
    ax.set_ylabel("instances")
    ax.set_xlim(-0.5, nc - 0.5)
    if 0 < nc <= 100:
        ax.set_xticks(range(nc))
        ax.set_xticklabels([_name(names, i) for i in range(nc)], rotation=90, fontsize=10 if nc < 30 else 7)
    else:
        ax.set_xlabel("classes")


def plot_labels(labels: np.ndarray, names: dict | list = (), save_dir: str | Path = Path("")) -> None:
    """labels.jpg (class histogram, box shapes, centre and size distributions) and labels_correlogram.jpg."""
    labels = _numpy(labels).reshape(-1, 5)
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    LOGGER.info(f"Plotting labels to {save_dir / 'labels.jpg'}... ")
    c, xywh = labels[:, 0], labels[:, 1:]
    fig = Figure(figsize=(12, 10), tight_layout=True)
    grid = fig.add_gridspec(2, 3)
    _class_histogram(fig.add_subplot(grid[0, :]), c, names)
    ax = fig.add_subplot(grid[1, 0])
    ax.imshow(_box_outlines(labels))
    ax.axis("off")
    for k, (i, j, xl, yl) in enumerate(((0, 1, "x", "y"), (2, 3, "width", "height"))):
        ax = fig.add_subplot(grid[1, k + 1])
        ax.hist2d(xywh[:, i], xywh[:, j], bins=50, range=((0, 1), (0, 1)), cmin=1, cmap="Blues")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    fig.savefig(save_dir / "labels.jpg", dpi=200)
    _correlogram(xywh, save_dir / "labels_correlogram.jpg")


def _correlogram(xywh: np.ndarray, file: Path) -> None:
    """Pairwise distributions of x, y, width, height: histograms on the diagonal, 2-D histograms elsewhere."""
    keys = ("x", "y", "width", "height")
    fig = Figure(figsize=(8, 8), tight_layout=True)
    axes = fig.subplots(4, 4)
    for i in range(4):
        for j in range(4):
            ax = axes[i, j]
            if i == j:
                ax.hist(xywh[:, i], bins=50, range=(0, 1), color="tab:blue")
            else:
                ax.hist2d(xywh[:, j], xywh[:, i], bins=50, range=((0, 1), (0, 1)), cmin=1, cmap="Blues")
            ax.set_xlabel(keys[j] if i == 3 else "")
            ax.set_ylabel(keys[i] if j == 0 else "")
    fig.savefig(file, dpi=200)


def results_layout(keys: list[str]) -> list[list[int]]:
    """results.png's two rows of column indices, for any task's results.csv: train losses and the first half of the
    metrics above, val losses and the second half below (detection: P, R over mAP50, mAP50-95, as YOLOv5 draws it)."""
    train = [i for i, k in enumerate(keys) if k.startswith("train/")]
    val = [i for i, k in enumerate(keys) if k.startswith(("val/", "test/"))]
    metrics = [i for i, k in enumerate(keys) if k.startswith("metrics/")]
    half = (len(metrics) + 1) // 2
    return [train + metrics[:half], val + metrics[half:]]


def plot_results(file: str | Path = "path/to/results.csv", dir: str | Path = "") -> None:
    """results.png: losses and metrics per epoch from each results*.csv of a run folder, with a smoothed line."""
    save_dir = Path(file).parent if file else Path(dir)
    files = sorted(save_dir.glob("results*.csv"))
    if not files:
        raise UserError(f"no results*.csv in {save_dir.resolve()}, nothing to plot")
    import pandas as pd  # here, not at the top: with scipy it adds 1.3 s to every val.py and detect.py start
    from scipy.ndimage import gaussian_filter1d

    keys = [k.strip() for k in pd.read_csv(files[0], skipinitialspace=True, nrows=0).columns]
    rows = results_layout(keys)
    ncol = max(len(r) for r in rows)
    fig = Figure(figsize=(2.4 * ncol, 6), tight_layout=True)
    ax = fig.subplots(2, ncol, squeeze=False)
    for f in files:
        data = pd.read_csv(f, skipinitialspace=True)
        x = data.values[:, 0]
        for r, columns in enumerate(rows):
            for c, j in enumerate(columns):
                y = data.values[:, j].astype(float)
                ax[r, c].plot(x, y, marker=".", label=f.stem, linewidth=2, markersize=8)
                ax[r, c].plot(x, gaussian_filter1d(y, sigma=3), ":", label="smooth", linewidth=2)
                ax[r, c].set_title(keys[j], fontsize=12)
    ax[0, min(1, ncol - 1)].legend()
    fig.savefig(save_dir / "results.png", dpi=200)


def plot_pr_curve(px: np.ndarray, py: list | np.ndarray, ap: np.ndarray, save_dir: str | Path = Path("pr_curve.png"),
                  names: dict | list = ()) -> None:
    """Precision-recall curve per class (legend up to 20 classes) and for all classes with mAP@0.5."""
    fig = Figure(figsize=(9, 6), tight_layout=True)
    ax = fig.subplots()
    py = np.stack(py, axis=1) if len(py) else np.zeros((len(px), 0))
    show_classes = 0 < len(names) < 21
    for i, y in enumerate(py.T):
        label = f"{_name(names, i)} {ap[i, 0]:.3f}" if show_classes else None
        ax.plot(px, y, linewidth=1, color=None if show_classes else "grey", label=label)
    mean_ap = ap[:, 0].mean() if len(ap) else 0.0
    ax.plot(px, py.mean(1) if py.shape[1] else np.zeros_like(px), linewidth=3, color="blue",
            label=f"all classes {mean_ap:.3f} mAP@0.5")
    _finish_curve(fig, ax, "Recall", "Precision", "Precision-Recall Curve", save_dir)


def plot_mc_curve(px: np.ndarray, py: np.ndarray, save_dir: str | Path = Path("mc_curve.png"),
                  names: dict | list = (), xlabel: str = "Confidence", ylabel: str = "Metric") -> None:
    """A metric (F1, P or R) against confidence per class and for all classes, with the best mean marked."""
    fig = Figure(figsize=(9, 6), tight_layout=True)
    ax = fig.subplots()
    py = np.asarray(py).reshape(-1, len(px))
    show_classes = 0 < len(names) < 21
    for i, y in enumerate(py):
        ax.plot(px, y, linewidth=1, color=None if show_classes else "grey",
                label=_name(names, i) if show_classes else None)
    y = smooth(py.mean(0), 0.05) if len(py) else np.zeros_like(px)
    ax.plot(px, y, linewidth=3, color="blue", label=f"all classes {y.max():.2f} at {px[y.argmax()]:.3f}")
    _finish_curve(fig, ax, xlabel, ylabel, f"{ylabel}-{xlabel} Curve", save_dir)


def plot_ap_curves(c: ClassCurves, save_dir: str | Path, names: dict | None = None, prefix: str = "") -> None:
    """PR_curve.png, F1_curve.png, P_curve.png and R_curve.png in save_dir, one line per labelled class."""
    save_dir = Path(save_dir)
    present = dict(enumerate(v for k, v in (names or {}).items() if k in c.classes))
    plot_pr_curve(c.px, c.py, c.ap, save_dir / f"{prefix}PR_curve.png", present)
    plot_mc_curve(c.px, c.f1, save_dir / f"{prefix}F1_curve.png", present, ylabel="F1")
    plot_mc_curve(c.px, c.p, save_dir / f"{prefix}P_curve.png", present, ylabel="Precision")
    plot_mc_curve(c.px, c.r, save_dir / f"{prefix}R_curve.png", present, ylabel="Recall")


def _finish_curve(fig: Figure, ax, xlabel: str, ylabel: str, title: str, file: str | Path) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left")
    ax.set_title(title)
    Path(file).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(file, dpi=250)


def plot_confusion_matrix(matrix: np.ndarray, nc: int, names: dict | list = (), save_dir: str | Path = "",
                          normalize: bool = True) -> None:
    """confusion_matrix.png: (nc + 1) x (nc + 1) predicted-vs-true counts, the last row/column is background."""
    array = np.asarray(matrix, dtype=float)
    if normalize:
        array = array / (array.sum(0).reshape(1, -1) + 1e-9)  # each true class sums to 1
    array[array < 0.005] = np.nan  # leave near-empty cells blank
    n = array.shape[0]
    labelled = 0 < len(names) < 99 and len(names) == nc
    ticks = [_name(names, i) for i in range(nc)] + ["background"] if labelled else None
    fig = Figure(figsize=(12, 9), tight_layout=True)
    ax = fig.subplots()
    im = ax.imshow(array, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if nc < 30:
        for i, j in zip(*np.where(~np.isnan(array))):
            ax.text(j, i, f"{array[i, j]:.2f}" if normalize else f"{array[i, j]:.0f}", ha="center", va="center",
                    fontsize=8, color="white" if array[i, j] > 0.5 * np.nanmax(array) else "black")
    if ticks:
        fs = 1.0 if nc < 50 else 0.8
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(ticks, rotation=90, fontsize=10 * fs)
        ax.set_yticklabels(ticks, fontsize=10 * fs)
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.set_title("Confusion Matrix")
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_dir / "confusion_matrix.png", dpi=250)


def plot_evolve(evolve_csv: str | Path = "path/to/evolve.csv") -> None:
    """evolve.png: fitness against each evolved hyperparameter, the best generation marked with a cross."""
    import pandas as pd  # here, not at the top: 0.9 s that val.py and detect.py do not need

    evolve_csv = Path(evolve_csv)
    data = pd.read_csv(evolve_csv, skipinitialspace=True)
    keys = [k.strip() for k in data.columns]
    x = data.values.astype(float)
    f = fitness(x)
    j = int(np.argmax(f))
    hyps = keys[7:]  # after P, R, mAP50, mAP50-95 and the three val losses
    cols = 5
    fig = Figure(figsize=(10, 2 * math.ceil(len(hyps) / cols) + 1), tight_layout=True)
    for i, k in enumerate(hyps):
        v = x[:, 7 + i]
        ax = fig.add_subplot(math.ceil(len(hyps) / cols), cols, i + 1)
        colour = {"c": hist2d(v, f, 20), "cmap": "viridis"} if len(v) > 1 else {}  # density colours need 2+ points
        ax.scatter(v, f, alpha=0.8, edgecolors="none", **colour)
        ax.plot(v[j], f.max(), "k+", markersize=15)
        ax.set_title(f"{k} = {v[j]:.3g}", fontdict={"size": 9})
        if i % cols:
            ax.set_yticks([])
    f_png = evolve_csv.with_suffix(".png")
    fig.savefig(f_png, dpi=200)
    LOGGER.info(f"Saved {f_png}")


STUDY_METRICS = ("P", "R", "mAP@.5", "mAP@.5:.95", "t_preprocess (ms/img)", "t_inference (ms/img)", "t_NMS (ms/img)")


def plot_val_study(file: str | Path = "", dir: str | Path = "", x: list | np.ndarray | None = None) -> None:
    """study.png from `val.py --task study` files (one row per image size: P R mAP50 mAP50-95 3 losses 3 times)."""
    save_dir = Path(file).parent if file else Path(dir)
    files = sorted(save_dir.glob("study*.txt")) if not file else [Path(file)]
    if not files:
        raise UserError(f"no study*.txt in {save_dir.resolve()}, nothing to plot")
    fig = Figure(figsize=(16, 8), tight_layout=True)
    axes = fig.subplots(2, 4).ravel()
    for f in files:
        y = np.loadtxt(f, dtype=np.float32, usecols=[0, 1, 2, 3, 7, 8, 9], ndmin=2).T
        sizes = np.arange(y.shape[1]) if x is None else np.asarray(x)[:y.shape[1]]
        for i, name in enumerate(STUDY_METRICS):
            axes[i].plot(sizes, y[i], ".-", linewidth=2, markersize=8, label=f.stem)
            axes[i].set_title(name)
            axes[i].set_xlabel("image size")
        axes[7].plot(y[5], y[3] * 1e2, ".-", linewidth=2, markersize=8, label=f.stem)
    axes[7].set_xlabel("inference time (ms/img)")
    axes[7].set_ylabel("COCO AP val (%)")
    axes[7].legend(loc="lower right")
    axes[7].grid(alpha=0.2)
    f_png = save_dir / "study.png"
    LOGGER.info(f"Saving {f_png}...")
    fig.savefig(f_png, dpi=300)


def save_one_box(xyxy, im: np.ndarray, file: str | Path = Path("im.jpg"), gain: float = 1.02, pad: int = 10,
                 square: bool = False, BGR: bool = False, save: bool = True) -> np.ndarray:
    """Crop a box (grown by gain and pad, optionally squared) out of a BGR image; save it as a new .jpg file."""
    b = xyxy2xywh(torch.as_tensor(xyxy, dtype=torch.float32).view(-1, 4))
    if square:
        b[:, 2:] = b[:, 2:].max(1)[0].unsqueeze(1)
    b[:, 2:] = b[:, 2:] * gain + pad
    box = xywh2xyxy(b).long()
    clip_boxes(box, im.shape[:2])
    x1, y1, x2, y2 = (int(v) for v in box[0])
    crop = im[y1:y2, x1:x2, ::(1 if BGR else -1)]
    if save:
        file = Path(file)
        file.parent.mkdir(parents=True, exist_ok=True)
        out = increment_path(file).with_suffix(".jpg")
        rgb = crop if not BGR else crop[..., ::-1]
        Image.fromarray(np.ascontiguousarray(rgb)).save(out, quality=95, subsampling=0)
    return crop


def feature_visualization(x: torch.Tensor, module_type: str, stage: int, n: int = 32,
                          save_dir: Path = Path("runs/detect/exp")) -> None:
    """The first n feature maps of one layer (first image of the batch) as a PNG grid, plus all of them as .npy."""
    if "Detect" in module_type or x.dim() != 4:
        return
    _, channels, height, width = x.shape
    if height <= 1 or width <= 1:
        return
    f = Path(save_dir) / f"stage{stage}_{module_type.split('.')[-1]}_features.png"
    blocks = torch.chunk(x[0].detach().cpu().float(), channels, dim=0)
    n = min(n, channels)
    fig = Figure(figsize=(8, math.ceil(n / 8)), tight_layout=True)
    ax = fig.subplots(math.ceil(n / 8), 8).ravel()
    for i in range(len(ax)):
        if i < n:
            ax[i].imshow(blocks[i].squeeze().numpy())
        ax[i].axis("off")
    LOGGER.info(f"Saving {f}... ({n}/{channels})")
    f.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(f, dpi=300, bbox_inches="tight")
    np.save(f.with_suffix(".npy"), x[0].detach().cpu().numpy())
