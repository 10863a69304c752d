"""Validate a trained YOLOv5 segmentation model on a polygon-labelled dataset: box and mask metrics, speed, plots,
labels and COCO JSON with RLE masks (scored by pycocotools for 'bbox' and 'segm').

Usage:
    python segment/val.py --weights yolov5n-seg.pt --data coco128-seg.yaml --img 640
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
    --task speed    times inference at conf 0.25 / IoU 0.45
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # first: `import val` must find the root val.py, not this file

import torch  # noqa: E402

from utils.checks import check_args  # noqa: E402
from utils.data.config import check_dataset  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.evaluation.coco_eval import coco_class_map  # noqa: E402
from utils.evaluation.detection import class_names, coco_evaluate  # noqa: E402
from utils.evaluation.segment_val import evaluate, report  # noqa: E402
from utils.files import ROOT, check_yaml, run_folder  # noqa: E402
from utils.logger import LOGGER, colorstr, print_args  # noqa: E402
from utils.torch_utils import keep_freed_memory, select_device  # noqa: E402
from val import _check_classes, _cli_dataloader, _load_model, val_arguments  # noqa: E402

DEFAULT_NM = 32  # mask coefficients per detection when the weights do not say (exported models)


def mask_count(model) -> int:
    """Mask coefficients per detection: the Segment head's nm for PyTorch weights; refuses a detection model."""
    if not model.pt:
        return DEFAULT_NM
    head = model.model.model[-1]
    if not hasattr(head, "proto"):
        raise UserError(f"segment/val.py needs a segmentation model (a Segment head), but the weights hold a "
                        f"{type(head).__name__} head: use val.py for detection weights")
    return int(head.nm)


@torch.no_grad()
def run(data, weights=None, batch_size: int = 32, imgsz: int = 640, conf_thres: float = 0.001,
        iou_thres: float = 0.6, max_det: int = 300, task: str = "val", device: str = "", workers: int = 8,
        single_cls: bool = False, augment: bool = False, verbose: bool = False, save_txt: bool = False,
        save_hybrid: bool = False, save_conf: bool = False, save_json: bool = False,
        project=ROOT / "runs/val-seg", name: str = "exp", exist_ok: bool = False, half: bool = True,
        dnn: bool = False, plots: bool = True, overlap: bool = False, mask_downsample_ratio: int = 1):
    """Validate seg weights from the command line: load, evaluate, print the table and speed, save the run folder.
    Returns ((box P, R, mAP50, mAP50-95, mask P, R, mAP50, mAP50-95, *val_losses), maps, times)."""
    check_args(locals(), python=True)
    device = select_device(device, batch_size=batch_size)
    keep_freed_memory(device)
    save_dir = run_folder(project, name, exist_ok, labels=save_txt)
    model, imgsz, batch_size = _load_model(weights, device, dnn, data, half, batch_size, imgsz)
    nm = mask_count(model)
    data = check_dataset(data)
    nc = 1 if single_cls else int(data["nc"])
    if model.pt and not single_cls:
        _check_classes(model, nc, weights)
    model.warmup(imgsz=(1 if model.pt else batch_size, 3, imgsz, imgsz))
    dataloader, task = _cli_dataloader(model, data, task, imgsz, batch_size, single_cls, workers, segments=True,
                                       mask_ratio=mask_downsample_ratio, overlap=overlap)
    class_map = coco_class_map(class_names(model)) if save_json else None
    ev = evaluate(model, dataloader, nc, conf_thres, iou_thres, max_det, single_cls, augment, model.fp16,
                  save_hybrid=save_hybrid, plots=plots, save_dir=save_dir, save_txt=save_txt, save_conf=save_conf,
                  class_map=class_map, overlap=overlap, nm=nm, progress=True)
    report(ev, (verbose or nc < 50) and nc > 1, task)
    shape = (batch_size, 3, imgsz, imgsz)
    LOGGER.info(f"Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape {shape}" % ev.times)
    coco = None
    if save_json and ev.jdict:
        coco = coco_evaluate(ev.jdict, dataloader.dataset, data, task, weights, ev.names, class_map, save_dir,
                             iou_types=("bbox", "segm"))
    s = f"\n{len(list(save_dir.glob('labels/*.txt')))} labels saved to {save_dir / 'labels'}" if save_txt else ""
    LOGGER.info(f"Results saved to {colorstr('bold', save_dir)}{s}")
    return ev.results(coco)


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """segment/val.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = argparse.ArgumentParser()
    val_arguments(parser, "data/coco128-seg.yaml", "yolov5s-seg.pt", "runs/val-seg")
    opt = parser.parse_args(argv)
    print_args(vars(opt), "val: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    if opt.task not in ("train", "val", "test", "speed"):
        raise UserError(f"--task {opt.task} is not known to segment/val.py, use train, val, test or speed")
    opt.data = check_yaml(opt.data)
    opt.save_json |= opt.data.endswith("coco.yaml")
    opt.save_txt |= opt.save_hybrid
    if opt.task != "speed":
        if opt.conf_thres > 0.001:
            LOGGER.warning(f"WARNING ⚠️ confidence threshold {opt.conf_thres} > 0.001 produces invalid results")
        if opt.save_hybrid:
            LOGGER.warning("WARNING ⚠️ --save-hybrid returns high mAP from hybrid labels, not from predictions alone")
        run(**vars(opt))
        return
    opt.half = torch.cuda.is_available() and opt.device != "cpu"
    opt.conf_thres, opt.iou_thres, opt.save_json = 0.25, 0.45, False
    for w in opt.weights if isinstance(opt.weights, list) else [opt.weights]:
        run(**{**vars(opt), "weights": w}, plots=False)


if __name__ == "__main__":
    main(parse_opt())
