"""AutoAnchor: measure how well a model's anchors fit a dataset's boxes and re-fit them (k-means + evolution) when poor."""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from utils.logger import LOGGER, colorstr
from utils.training.run_logger import TQDM_BAR_FORMAT
from utils.torch_utils import de_parallel

PREFIX = colorstr("AutoAnchor: ")
BPR_GOOD = 0.98  # best possible recall above which the current anchors are kept


def check_anchor_order(m: nn.Module) -> None:
    """Flip a Detect head's anchors when their order of area disagrees with the order of strides."""
    a = m.anchors.prod(-1).mean(-1).view(-1)
    da, ds = a[-1] - a[0], m.stride[-1] - m.stride[0]
    if da and (da.sign() != ds.sign()):
        LOGGER.info(f"{colorstr('AutoAnchor: ')}Reversing anchor order")
        m.anchors[:] = m.anchors.flip(0)


def ratio_metric(wh: torch.Tensor, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, k) worst-side ratio min(w/aw, aw/w, h/ah, ah/h) of each box to each anchor, and each box's best anchor."""
    r = wh[:, None] / anchors[None]
    x = torch.min(r, 1 / r).min(2)[0]
    return x, x.max(1)[0]


def dataset_wh(dataset, imgsz: int, scale_jitter: float = 0.0) -> np.ndarray:
    """Label widths and heights in pixels at imgsz (longest side), optionally jittered by +-scale_jitter."""
    shapes = imgsz * dataset.shapes / dataset.shapes.max(1, keepdims=True)
    if scale_jitter:
        shapes = shapes * np.random.uniform(1 - scale_jitter, 1 + scale_jitter, size=(shapes.shape[0], 1))
    wh = [labels[:, 3:5] * s for s, labels in zip(shapes, dataset.labels) if len(labels)]
    return np.concatenate(wh, 0) if wh else np.zeros((0, 2))


def anchor_recall(wh: torch.Tensor, anchors: torch.Tensor, thr: float) -> tuple[float, float]:
    """Best possible recall (share of boxes with an anchor within ratio thr) and anchors per target above thr."""
    x, best = ratio_metric(wh, anchors)
    aat = (x > 1 / thr).float().sum(1).mean()
    bpr = (best > 1 / thr).float().mean()
    return float(bpr), float(aat)


def check_anchors(dataset, model: nn.Module, thr: float = 4.0, imgsz: int = 640) -> None:
    """Log the anchors' fit to dataset; when BPR < 0.98 replace them with evolved k-means anchors if those fit better."""
    detect = de_parallel(model).model[-1]
    wh = torch.tensor(dataset_wh(dataset, imgsz, scale_jitter=0.1)).float()
    if not len(wh):
        LOGGER.info(f"{PREFIX}no labels to check anchors against, keeping the model's anchors")
        return
    stride = detect.stride.to(detect.anchors.device).view(-1, 1, 1)
    anchors = detect.anchors.clone() * stride  # pixels
    bpr, aat = anchor_recall(wh, anchors.cpu().view(-1, 2), thr)
    s = f"\n{PREFIX}{aat:.2f} anchors/target, {bpr:.3f} Best Possible Recall (BPR). "
    if bpr > BPR_GOOD:
        LOGGER.info(f"{s}Current anchors are a good fit to dataset ✅")
        return
    LOGGER.info(f"{s}Anchors are a poor fit to dataset ⚠️, attempting to improve...")
    new = kmean_anchors(dataset, n=detect.anchors.numel() // 2, img_size=imgsz, thr=thr, gen=1000, verbose=False)
    new_bpr, _ = anchor_recall(wh, torch.tensor(new), thr)
    if new_bpr > bpr:
        detect.anchors[:] = torch.tensor(new, device=detect.anchors.device).type_as(detect.anchors).view_as(
            detect.anchors)
        check_anchor_order(detect)
        detect.anchors /= stride
        LOGGER.info(f"{PREFIX}Done ✅ (optional: update model *.yaml to use these anchors in the future)")
    else:
        LOGGER.info(f"{PREFIX}Done ⚠️ (original anchors better than new anchors, proceeding with original anchors)")


def _anchor_fitness(k: np.ndarray, wh: torch.Tensor, thr: float) -> float:
    """Mean best-anchor ratio over boxes, counting only boxes that some anchor can reach."""
    _, best = ratio_metric(wh, torch.tensor(k, dtype=torch.float32))
    return float((best * (best > 1 / thr).float()).mean())


def _summarise(k: np.ndarray, wh0: torch.Tensor, thr: float, img_size: int, verbose: bool = True) -> np.ndarray:
    """Sort anchors by area and log how well they fit all the boxes."""
    k = k[np.argsort(k.prod(1))]
    x, best = ratio_metric(wh0, torch.tensor(k, dtype=torch.float32))
    bpr, aat = (best > 1 / thr).float().mean(), (x > 1 / thr).float().mean() * len(k)
    past = x[x > 1 / thr]
    s = (f"{PREFIX}thr={1 / thr:.2f}: {bpr:.4f} best possible recall, {aat:.2f} anchors past thr\n"
         f"{PREFIX}n={len(k)}, img_size={img_size}, metric_all={x.mean():.3f}/{best.mean():.3f}-mean/best, "
         f"past_thr={past.mean() if len(past) else 0:.3f}-mean: "
         + ", ".join(f"{round(float(a))},{round(float(b))}" for a, b in k))
    if verbose:
        LOGGER.info(s)
    return k


def _initial_anchors(wh: np.ndarray, n: int, img_size: int) -> np.ndarray:
    """k-means on whitened wh (scipy); random sizes when there are fewer boxes than anchors or k-means collapses."""
    from scipy.cluster.vq import kmeans

    LOGGER.info(f"{PREFIX}Running kmeans for {n} anchors on {len(wh)} points...")
    if n <= len(wh):
        s = wh.std(0)
        s[s == 0] = 1.0
        k = kmeans(wh / s, n, iter=30)[0] * s
        if len(k) == n:
            return k
    LOGGER.warning(f"{PREFIX}WARNING ⚠️ switching strategies from kmeans to random init")
    return np.sort(np.random.rand(n * 2)).reshape(n, 2) * img_size


def _evolve(k: np.ndarray, wh: torch.Tensor, thr: float, gen: int, verbose: bool, summary) -> np.ndarray:
    """Genetic refinement: multiplicative mutations of the anchors, kept when they raise the fitness."""
    f, shape, mutation_prob, sigma = _anchor_fitness(k, wh, thr), k.shape, 0.9, 0.1
    pbar = tqdm(range(gen), bar_format=TQDM_BAR_FORMAT)
    for _ in pbar:
        v = np.ones(shape)
        while (v == 1).all():  # mutate until something changes
            v = ((np.random.random(shape) < mutation_prob) * random.random() * np.random.randn(*shape) * sigma
                 + 1).clip(0.3, 3.0)
        kg = (k.copy() * v).clip(min=2.0)
        fg = _anchor_fitness(kg, wh, thr)
        if fg > f:
            f, k = fg, kg.copy()
            pbar.desc = f"{PREFIX}Evolving anchors with Genetic Algorithm: fitness = {f:.4f}"
            if verbose:
                summary(k)
    return k


def kmean_anchors(dataset, n: int = 9, img_size: int = 640, thr: float = 4.0, gen: int = 1000,
                  verbose: bool = True) -> np.ndarray:
    """(n, 2) float32 anchors in pixels fitted to a dataset's boxes (a dataset object or a data YAML), small first."""
    if isinstance(dataset, (str, dict)):
        dataset = _train_dataset(dataset)
    wh0 = dataset_wh(dataset, img_size)
    tiny = int((wh0 < 3.0).any(1).sum())
    if tiny:
        LOGGER.info(f"{PREFIX}WARNING ⚠️ Extremely small objects found: {tiny} of {len(wh0)} labels are <3 pixels in size")
    wh = wh0[(wh0 >= 2.0).any(1)].astype(np.float32)
    k = _initial_anchors(wh, n, img_size)
    wh_t, wh0_t = torch.tensor(wh, dtype=torch.float32), torch.tensor(wh0, dtype=torch.float32)

    def summary(a: np.ndarray, show: bool = True) -> np.ndarray:
        return _summarise(a, wh0_t, thr, img_size, show)

    k = summary(k, show=False)
    k = _evolve(k, wh_t, thr, gen, verbose, summary)
    return summary(k).astype(np.float32)


def _train_dataset(data: str | dict):
    """The training split of a data YAML, loaded the way training sees it (augment, rect)."""
    from utils.data.config import check_dataset
    from utils.data.datasets import LoadImagesAndLabels

    return LoadImagesAndLabels(check_dataset(data)["train"], augment=True, rect=True)
