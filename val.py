"""Validate a trained detector on a dataset: the YOLOv5 metrics table, speed, plots, labels and COCO JSON.

Usage:
    python val.py --weights yolov5n.pt --data coco128.yaml --img 640
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
    --task speed    times inference at conf 0.25 / IoU 0.45
    --task study    mAP and speed over image sizes 256..1536, saved as study_*.txt and study.png
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.backends import DetectMultiBackend
from utils.boxes import scale_boxes, write_yolo_labels, xywh2xyxy
from utils.checks import check_args, check_img_size
from utils.evaluation.coco_eval import (coco_class_map, find_annotations, image_id, labels_to_coco, predictions_to_json,
                             pycocotools_map, write_json)
from utils.data.config import check_dataset
from utils.data.loaders import create_dataloader
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT_REL, check_yaml, increment_path
from utils.logger import LOGGER, colorstr, print_args
from utils.evaluation.metrics import ConfusionMatrix, at_best_f1, class_curves, iou_thresholds, match_predictions
from utils.inference.nms import non_max_suppression
from utils.evaluation.plots import (output_to_target, plot_ap_curves, plot_confusion_matrix, plot_images,
                                    plot_val_study)
from utils.training.run_logger import TQDM_BAR_FORMAT
from utils.torch_utils import keep_freed_memory, select_device, time_sync, to_float_image
from utils.torch_compile import compile_backend

STUDY_SIZES = tuple(range(256, 1536 + 128, 128))  # --task study image sizes
PLOT_BATCHES = 3  # val_batch{0,1,2}_{labels,pred}.jpg
HEADER = ("%22s" + "%11s" * 6) % ("Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95")
ROW = "%22s" + "%11i" * 2 + "%11.3g" * 4


def _load_model(weights, device: torch.device, dnn: bool, data, half: bool, batch_size: int, imgsz: int):
    """DetectMultiBackend for any weights format, with the image and batch size it can run at."""
    model = DetectMultiBackend(weights, device=device, dnn=dnn, data=data, fp16=half)
    imgsz = check_img_size(imgsz, s=model.stride)
    if model.input_shape is not None:  # a fixed-shape export runs only at its own batch and image size
        batch_size, h, w = model.input_shape[0], *model.export_imgsz((imgsz, imgsz))
        if h != w:
            raise UserError(f"val.py letterboxes to a square --imgsz, but {weights} was exported for {h}x{w} input; "
                            f"export at a square size or with --dynamic")
        imgsz = h
        LOGGER.info(f"Forcing --batch-size {batch_size} square inference ({batch_size},3,{imgsz},{imgsz}) "
                    f"for a fixed-shape exported model")
    return model, imgsz, batch_size


def _check_classes(model, nc: int, weights) -> None:
    """Refuse weights trained for another number of classes than the dataset has."""
    ncm = model.model.nc
    if ncm != nc:
        raise UserError(f"{weights} ({ncm} classes) trained on different --data than what you passed ({nc} "
                        f"classes). Pass correct combination of --weights and --data that are trained together.")


def _labels_in_pixels(targets: torch.Tensor, si: int, img_shape: tuple, shape0: tuple, ratio_pad) -> torch.Tensor:
    """Image si's labels as (m, 5) [cls, x1, y1, x2, y2] in original-image pixels."""
    labels = targets[targets[:, 0] == si, 1:]
    tbox = xywh2xyxy(labels[:, 1:5])
    scale_boxes(img_shape, tbox, shape0, ratio_pad)
    return torch.cat((labels[:, 0:1], tbox), 1)


def _score_image(pred: torch.Tensor, labelsn: torch.Tensor, img_shape: tuple, shape0: tuple, ratio_pad,
                 iouv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Detections moved to original-image pixels, and which are true positives at each IoU threshold."""
    predn = pred.clone()
    scale_boxes(img_shape, predn[:, :4], shape0, ratio_pad)
    return predn, match_predictions(predn, labelsn, iouv)


def _summarize(stats: list, nc: int, names: dict, plots: bool, save_dir: Path) -> dict:
    """Metrics over the whole set from per-image (correct, conf, cls, target_cls) tuples."""
    stats = [torch.cat(x, 0).cpu().numpy() for x in zip(*stats)]
    out = {"mp": 0.0, "mr": 0.0, "map50": 0.0, "map": 0.0, "ap_class": np.zeros(0, int)}
    if len(stats) and stats[0].any():
        curves = class_curves(*stats)
        if plots:
            plot_ap_curves(curves, save_dir, names)
        tp, fp, p, r, f1, ap, ap_class = at_best_f1(curves)
        ap50, ap = ap[:, 0], ap.mean(1)
        out.update(mp=p.mean(), mr=r.mean(), map50=ap50.mean(), map=ap.mean(), p=p, r=r, ap50=ap50, ap=ap,
                   ap_class=ap_class, tp=tp, fp=fp, f1=f1)
    out["nt"] = np.bincount(stats[3].astype(int), minlength=nc) if len(stats) else np.zeros(nc, int)
    return out


def class_names(model) -> dict:
    """{index: name} of a model, a DetectMultiBackend or a DataParallel-wrapped model."""
    names = model.names if hasattr(model, "names") else model.module.names
    return dict(enumerate(names)) if isinstance(names, (list, tuple)) else names


def coco_evaluate(jdict: list, dataset, data: dict, task: str, weights, names: dict, class_map: list,
                  save_dir: Path) -> tuple[float, float] | None:
    """Save predictions.json and score it with pycocotools against the dataset's or the labels' COCO ground truth."""
    w = Path(weights[0] if isinstance(weights, list) else weights).stem if weights is not None else ""
    pred_json = save_dir / f"{w}_predictions.json"
    LOGGER.info(f"\nEvaluating pycocotools mAP... saving {pred_json}...")
    write_json(jdict, pred_json)
    split = Path(str(data.get(task) or "")).stem
    anno_json = find_annotations(data.get("path"), (f"annotations/instances_{split}.json",))
    if anno_json is None:
        anno_json = write_json(labels_to_coco(dataset.im_files, dataset.labels, dataset.shapes, names, class_map),
                               save_dir / "annotations_from_labels.json")
        LOGGER.info(f"no annotations/instances_{split}.json under {data.get('path')}, "
                    f"ground truth built from the YOLO labels: {anno_json}")
    try:
        return pycocotools_map(anno_json, pred_json, [image_id(f) for f in dataset.im_files])
    except Exception as e:  # pycocotools asserts on mismatched files; the YOLOv5 metrics above still stand
        LOGGER.info(f"pycocotools unable to run: {e}")
        return None


@dataclass
class Evaluation:
    """One pass over a validation set: the summary of _summarize, images seen, mean losses, ms per image."""

    metrics: dict
    nc: int
    seen: int
    names: dict
    loss: list[float]  # mean val box, obj, cls losses (zeros without compute_loss)
    times: tuple[float, float, float]  # ms per image: pre-process, inference, NMS
    jdict: list  # COCO JSON predictions, collected when a class_map was given

    def results(self, coco: tuple[float, float] | None = None) -> tuple[tuple, np.ndarray, tuple]:
        """YOLOv5's val.run return value: ((P, R, mAP50, mAP50-95, *losses), per-class mAPs, times); the
        pycocotools (mAP50-95, mAP50) replace the YOLOv5 ones when given."""
        m = self.metrics
        map_, map50 = coco if coco is not None else (m["map"], m["map50"])
        maps = np.zeros(self.nc) + map_
        for i, c in enumerate(m["ap_class"]):
            maps[c] = m["ap"][i]
        return (m["mp"], m["mr"], map50, map_, *self.loss), maps, self.times


@torch.no_grad()
def evaluate(model, dataloader, nc: int, conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
             single_cls: bool = False, augment: bool = False, half: bool = False, compute_loss=None,
             save_hybrid: bool = False, plots: bool = False, save_dir: Path = Path(""), save_txt: bool = False,
             save_conf: bool = False, class_map: list | None = None, progress: bool = False) -> Evaluation:
    """Metrics of `model` on `dataloader`. Writes only what is asked: plots and --save-txt labels into save_dir."""
    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    half &= device.type != "cpu"
    model.half() if half else model.float()
    model.eval()
    iouv = iou_thresholds(device)
    confusion_matrix = ConfusionMatrix(nc=nc)
    names = class_names(model)
    seen, dt, loss, jdict, stats = 0, [0.0, 0.0, 0.0], torch.zeros(3, device=device), [], []
    batches = tqdm(dataloader, desc=HEADER, bar_format=TQDM_BAR_FORMAT) if progress else dataloader
    for batch_i, (im, targets, paths, shapes) in enumerate(batches):
        t0 = time_sync()
        im, targets = to_float_image(im, device, half), targets.to(device)
        nb, _, height, width = im.shape
        t1 = time_sync()
        preds, train_out = model(im) if compute_loss else (model(im, augment=augment), None)
        t2 = time_sync()
        if compute_loss:
            loss += compute_loss(train_out, targets)[1]
        targets[:, 2:] *= torch.tensor((width, height, width, height), device=targets.device)
        lb = [targets[targets[:, 0] == i, 1:] for i in range(nb)] if save_hybrid else []
        preds = non_max_suppression(preds, conf_thres, iou_thres, labels=lb, multi_label=True, agnostic=single_cls,
                                    max_det=max_det)
        t3 = time_sync()
        dt = [dt[0] + t1 - t0, dt[1] + t2 - t1, dt[2] + t3 - t2]

        for si, pred in enumerate(preds):
            seen += 1
            path, shape0, ratio_pad = Path(paths[si]), shapes[si][0], shapes[si][1]
            labelsn = _labels_in_pixels(targets, si, im[si].shape[1:], shape0, ratio_pad)
            if pred.shape[0] == 0:
                if labelsn.shape[0]:
                    no_match = torch.zeros((0, iouv.numel()), dtype=torch.bool, device=device)
                    stats.append((no_match, *torch.zeros((2, 0), device=device), labelsn[:, 0]))
                    if plots:
                        confusion_matrix.process_batch(detections=None, labels=labelsn)
                continue
            if single_cls:
                pred[:, 5] = 0
            predn, correct = _score_image(pred, labelsn, im[si].shape[1:], shape0, ratio_pad, iouv)
            if plots:
                confusion_matrix.process_batch(predn, labelsn)
            stats.append((correct, pred[:, 4], pred[:, 5], labelsn[:, 0]))
            if save_txt:
                write_yolo_labels(save_dir / "labels" / f"{path.stem}.txt", predn, shape0, save_conf)
            if class_map is not None:
                jdict += predictions_to_json(predn, path, class_map)

        if plots and batch_i < PLOT_BATCHES:
            plot_images(im, targets, paths, save_dir / f"val_batch{batch_i}_labels.jpg", names)
            plot_images(im, output_to_target(preds, max_det=max_det), paths, save_dir / f"val_batch{batch_i}_pred.jpg",
                        names)

    metrics = _summarize(stats, nc, names, plots, save_dir)
    if plots:
        plot_confusion_matrix(confusion_matrix.matrix, nc, names, save_dir)
    model.float()
    times = tuple(x / max(seen, 1) * 1e3 for x in dt)
    losses = (loss.cpu() / max(len(dataloader), 1)).tolist()
    return Evaluation(metrics, nc, seen, names, losses, times, jdict)


def report(ev: Evaluation, per_class: bool, task: str = "val") -> None:
    """The YOLOv5 metrics table: the 'all' row, and one row per labelled class when asked."""
    m, seen = ev.metrics, ev.seen
    LOGGER.info(ROW % ("all", seen, m["nt"].sum(), m["mp"], m["mr"], m["map50"], m["map"]))
    if m["nt"].sum() == 0:
        LOGGER.warning(f"WARNING ⚠️ no labels found in {task} set, can not compute metrics without labels")
    if per_class and "ap" in m:
        for i, c in enumerate(m["ap_class"]):
            LOGGER.info(ROW % (ev.names[c], seen, m["nt"][c], m["p"][i], m["r"][i], m["ap50"][i], m["ap"][i]))


def _cli_dataloader(model, data: dict, task: str, imgsz: int, batch_size: int, single_cls: bool, workers: int):
    """The --task split's loader: rectangular batches where the backend takes any shape, none for --task speed."""
    dynamic_shape = model.pt or (not model.jit and model.input_shape is None)  # TorchScript is traced at one size
    pad, rect = (0.0, False) if task == "speed" else (0.5, dynamic_shape)
    task = task if task in ("train", "val", "test") else "val"
    if not data.get(task):
        raise UserError(f"--task {task}: the data YAML has no '{task}:' images")
    return create_dataloader(data[task], imgsz, batch_size, model.stride, single_cls, pad=pad, rect=rect,
                             workers=workers, prefix=colorstr(f"{task}: "), nc=int(data["nc"]))[0], task


@torch.no_grad()
def run(data, weights=None, batch_size: int = 32, imgsz: int = 640, conf_thres: float = 0.001,
        iou_thres: float = 0.6, max_det: int = 300, task: str = "val", device: str = "", workers: int = 8,
        single_cls: bool = False, augment: bool = False, verbose: bool = False, save_txt: bool = False,
        save_hybrid: bool = False, save_conf: bool = False, save_json: bool = False, project=ROOT_REL / "runs/val",
        name: str = "exp", exist_ok: bool = False, half: bool = True, dnn: bool = False, plots: bool = True,
        compile: bool = False):
    """Validate weights from the command line: load, evaluate, print the table and speed, save the run folder.
    Returns ((P, R, mAP50, mAP50-95, *val_losses), maps, times)."""
    check_args(locals(), python=True)  # Python callers get the CLI's checks, naming `key=`
    device = select_device(device, batch_size=batch_size)
    keep_freed_memory(device)
    save_dir = increment_path(Path(project) / name, exist_ok=exist_ok)
    (save_dir / "labels" if save_txt else save_dir).mkdir(parents=True, exist_ok=True)
    model, imgsz, batch_size = _load_model(weights, device, dnn, data, half, batch_size, imgsz)
    if compile:
        compile_backend(model, device, "val: ")
    data = check_dataset(data)
    nc = 1 if single_cls else int(data["nc"])
    if model.pt and not single_cls:
        _check_classes(model, nc, weights)
    model.warmup(imgsz=(1 if model.pt else batch_size, 3, imgsz, imgsz))
    dataloader, task = _cli_dataloader(model, data, task, imgsz, batch_size, single_cls, workers)
    class_map = coco_class_map(class_names(model)) if save_json else None
    ev = evaluate(model, dataloader, nc, conf_thres, iou_thres, max_det, single_cls, augment, model.fp16,
                  save_hybrid=save_hybrid, plots=plots, save_dir=save_dir, save_txt=save_txt, save_conf=save_conf,
                  class_map=class_map, progress=True)
    report(ev, (verbose or nc < 50) and nc > 1, task)
    shape = (batch_size, 3, imgsz, imgsz)
    LOGGER.info(f"Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape {shape}" % ev.times)
    coco = None
    if save_json and ev.jdict:
        coco = coco_evaluate(ev.jdict, dataloader.dataset, data, task, weights, ev.names, class_map, save_dir)
    s = f"\n{len(list(save_dir.glob('labels/*.txt')))} labels saved to {save_dir / 'labels'}" if save_txt else ""
    LOGGER.info(f"Results saved to {colorstr('bold', save_dir)}{s}")
    return ev.results(coco)


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """val.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=str, default=ROOT_REL / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--weights", nargs="+", type=str, default=ROOT_REL / "yolov5s.pt", help="model path(s)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--conf-thres", type=float, default=0.001, help="confidence threshold")
    parser.add_argument("--iou-thres", type=float, default=0.6, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=300, help="maximum detections per image")
    parser.add_argument("--task", default="val", help="train, val, test, speed or study")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--single-cls", action="store_true", help="treat as single-class dataset")
    parser.add_argument("--augment", action="store_true", help="augmented inference")
    parser.add_argument("--verbose", action="store_true", help="report mAP by class")
    parser.add_argument("--save-txt", action="store_true", help="save results to *.txt")
    parser.add_argument("--save-hybrid", action="store_true", help="save label+prediction hybrid results to *.txt")
    parser.add_argument("--save-conf", action="store_true", help="save confidences in --save-txt labels")
    parser.add_argument("--save-json", action="store_true", help="save a COCO-JSON results file")
    parser.add_argument("--project", default=ROOT_REL / "runs/val", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--half", action="store_true", help="use FP16 half-precision inference")
    parser.add_argument("--dnn", action="store_true", help="use OpenCV DNN for ONNX inference")
    parser.add_argument("--compile", action="store_true", help="PyTorch weights: run the model through torch.compile")
    opt = parser.parse_args(argv)
    print_args(vars(opt), "val: ")
    return opt


def study(opt: argparse.Namespace, weights: list) -> None:
    """mAP and speed of each weights file over STUDY_SIZES: one study_<data>_<weights>.txt each, and study.png."""
    folder = Path(opt.project)
    folder.mkdir(parents=True, exist_ok=True)
    for w in weights:
        f = folder / f"study_{Path(opt.data).stem}_{Path(w).stem}.txt"
        rows = []
        for size in STUDY_SIZES:
            LOGGER.info(f"\nRunning {f} --imgsz {size}...")
            r, _, t = run(**{**vars(opt), "weights": w, "imgsz": size, "task": "val"}, plots=False)
            rows.append(r + t)
        np.savetxt(f, rows, fmt="%10.4g")
        LOGGER.info(f"Study results saved to {f}")
        plot_val_study(f, x=STUDY_SIZES)


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    if opt.task not in ("train", "val", "test", "speed", "study"):
        raise UserError(f"--task {opt.task} is not known, use train, val, test, speed or study")
    opt.data = check_yaml(opt.data)
    opt.save_json |= opt.data.endswith("coco.yaml")
    opt.save_txt |= opt.save_hybrid
    if opt.task in ("train", "val", "test"):
        if opt.conf_thres > 0.001:
            LOGGER.info(f"WARNING ⚠️ confidence threshold {opt.conf_thres} > 0.001 produces invalid results")
        if opt.save_hybrid:
            LOGGER.info("WARNING ⚠️ --save-hybrid will return high mAP from hybrid labels, "
                        "not from predictions alone")
        run(**vars(opt))
        return
    weights = opt.weights if isinstance(opt.weights, list) else [opt.weights]
    opt.half = torch.cuda.is_available() and opt.device != "cpu"
    if opt.task == "speed":
        opt.conf_thres, opt.iou_thres, opt.save_json = 0.25, 0.45, False
        for w in weights:
            run(**{**vars(opt), "weights": w}, plots=False)
    else:
        study(opt, weights)


if __name__ == "__main__":
    main(parse_opt())
