"""Validate a trained detector on a dataset: the YOLOv5 metrics table, speed, plots, labels and COCO JSON.

Usage:
    python val.py --weights yolov5n.pt --data coco128.yaml --img 640
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
    --task speed    times inference at conf 0.25 / IoU 0.45
    --task study    mAP and speed over image sizes 256..1536, saved as study_*.txt and study.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models.backends import DetectMultiBackend
from utils.checks import check_args, check_img_size
from utils.data.config import check_dataset
from utils.data.loaders import create_dataloader
from utils.errors import UserError, exit_on_user_error
from utils.evaluation.coco_eval import coco_class_map
from utils.evaluation.detection import (HEADER, ROW, Evaluation, class_names, coco_evaluate,  # noqa: F401
                                        evaluate, report)
from utils.evaluation.plots import plot_val_study
from utils.files import ROOT, check_yaml, root_rel, run_folder
from utils.logger import LOGGER, colorstr, print_args
from utils.torch_compile import compile_backend
from utils.torch_utils import keep_freed_memory, select_device

STUDY_SIZES = tuple(range(256, 1536 + 128, 128))  # --task study image sizes


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



def _cli_dataloader(model, data: dict, task: str, imgsz: int, batch_size: int, single_cls: bool, workers: int,
                    **loader_args):
    """The --task split's loader: rectangular batches where the backend takes any shape, none for --task speed;
    loader_args go to create_dataloader (segment/val.py's segments=True, mask_ratio, overlap)."""
    dynamic_shape = model.pt or (not model.jit and model.input_shape is None)  # TorchScript is traced at one size
    pad, rect = (0.0, False) if task == "speed" else (0.5, dynamic_shape)
    task = task if task in ("train", "val", "test") else "val"
    if not data.get(task):
        raise UserError(f"--task {task}: the data YAML has no '{task}:' images")
    return create_dataloader(data[task], imgsz, batch_size, model.stride, single_cls, pad=pad, rect=rect,
                             workers=workers, prefix=colorstr(f"{task}: "), nc=int(data["nc"]), **loader_args)[0], task


@torch.no_grad()
def run(data, weights=None, batch_size: int = 32, imgsz: int = 640, conf_thres: float = 0.001,
        iou_thres: float = 0.6, max_det: int = 300, task: str = "val", device: str = "", workers: int = 8,
        single_cls: bool = False, augment: bool = False, verbose: bool = False, save_txt: bool = False,
        save_hybrid: bool = False, save_conf: bool = False, save_json: bool = False, project=ROOT / "runs/val",
        name: str = "exp", exist_ok: bool = False, half: bool = True, dnn: bool = False, plots: bool = True,
        compile: bool = False):
    """Validate weights from the command line: load, evaluate, print the table and speed, save the run folder.
    Returns ((P, R, mAP50, mAP50-95, *val_losses), maps, times)."""
    check_args(locals(), python=True)  # Python callers get the CLI's checks, naming `key=`
    device = select_device(device, batch_size=batch_size)
    keep_freed_memory(device)
    save_dir = run_folder(project, name, exist_ok, labels=save_txt)
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


def val_arguments(parser: argparse.ArgumentParser, data: str, weights: str, project: str) -> None:
    """The flags val.py and segment/val.py share (YOLOv5 v7.0's), with each script's dataset, weights and run folder."""
    parser.add_argument("--data", type=str, default=root_rel() / data, help="dataset.yaml path")
    parser.add_argument("--weights", nargs="+", type=str, default=root_rel() / weights, help="model path(s)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--conf-thres", type=float, default=0.001, help="confidence threshold")
    parser.add_argument("--iou-thres", type=float, default=0.6, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=300, help="maximum detections per image")
    parser.add_argument("--task", default="val", help="train, val, test, speed or (val.py) study")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--single-cls", action="store_true", help="treat as single-class dataset")
    parser.add_argument("--augment", action="store_true", help="augmented inference")
    parser.add_argument("--verbose", action="store_true", help="report mAP by class")
    parser.add_argument("--save-txt", action="store_true", help="save results to *.txt")
    parser.add_argument("--save-hybrid", action="store_true", help="save label+prediction hybrid results to *.txt")
    parser.add_argument("--save-conf", action="store_true", help="save confidences in --save-txt labels")
    parser.add_argument("--save-json", action="store_true", help="save a COCO-JSON results file")
    parser.add_argument("--project", default=root_rel() / project, help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--half", action="store_true", help="use FP16 half-precision inference")
    parser.add_argument("--dnn", action="store_true", help="use OpenCV DNN for ONNX inference")


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """val.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = argparse.ArgumentParser()
    val_arguments(parser, "data/coco128.yaml", "yolov5s.pt", "runs/val")
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
