"""Segment instances in images, folders, globs, videos, cameras and streams with a YOLOv5 segmentation model; save
images with masks and boxes (and --save-txt polygons) to runs/predict-seg.

Usage:
    python segment/predict.py --weights yolov5n-seg.pt --source data/images      # folder
                                                                 img.jpg          # image
                                                                 vid.mp4          # video
                                                                 0                # webcam
                                                                 'path/*.jpg'     # glob
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from detect import (ResultSaver, VideoSaver, can_show_windows, count_summary, open_source, source_fps,  # noqa: E402
                    to_batch)
from models.backends import DetectMultiBackend  # noqa: E402
from models.checkpoints import strip_optimizer  # noqa: E402
from utils.annotator import Annotator, colors  # noqa: E402
from utils.boxes import scale_boxes, scale_segments  # noqa: E402
from utils.checks import check_args, check_img_size  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.files import ROOT, check_file, increment_path, run_folder  # noqa: E402
from utils.inference.nms import non_max_suppression  # noqa: E402
from utils.inference.sources import classify_source  # noqa: E402
from utils.logger import LOGGER  # noqa: E402
from utils.masks import masks2segments, process_mask, process_mask_native  # noqa: E402
from utils.torch_utils import select_device  # noqa: E402
from utils.inference.stages import Stages  # noqa: E402
from utils.inference.predict_cli import parse_predict, predict_parser, report_run  # noqa: E402


def split_output(y, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows with mask coefficients, prototype masks) from a backend's output, or one line saying the model has none."""
    if not (isinstance(y, (list, tuple)) and len(y) == 2 and isinstance(y[1], torch.Tensor) and y[1].ndim == 4):
        raise UserError(f"--weights {weights} is not a segmentation model (no prototype masks in its output); "
                        "use detect.py for detection models")
    return y[0], y[1]


def frame_masks(proto: torch.Tensor, det: torch.Tensor, im_shape: tuple, im0_shape: tuple,
                retina_masks: bool) -> torch.Tensor:
    """Binary masks of det's rows, and det's boxes scaled to im0 in place: masks at the letterboxed input's size, or
    at im0's (--retina-masks, cut from boxes already scaled), as v7.0."""
    if retina_masks:
        det[:, :4] = scale_boxes(im_shape, det[:, :4], im0_shape).round()
        return process_mask_native(proto, det[:, 6:], det[:, :4], im0_shape[:2])
    masks = process_mask(proto, det[:, 6:], det[:, :4], im_shape, upsample=True)
    det[:, :4] = scale_boxes(im_shape, det[:, :4], im0_shape).round()
    return masks


def write_polygons(txt_path: str, det: torch.Tensor, masks: torch.Tensor, mask_shape: tuple, im0_shape: tuple,
                   save_conf: bool) -> None:
    """--save-txt: one line per instance, 'class x1 y1 x2 y2 ...' (normalized outline, + conf), last detection first."""
    segments = [scale_segments(mask_shape, s, im0_shape, normalize=True) for s in reversed(masks2segments(masks))]
    with open(f"{txt_path}.txt", "a") as f:
        for (*_, conf, cls), seg in zip(reversed(det[:, :6]).tolist(), segments):
            line = (cls, *seg.reshape(-1).tolist(), conf) if save_conf else (cls, *seg.reshape(-1).tolist())
            f.write(("%g " * len(line)).rstrip() % line + "\n")


def mask_canvas(im0: np.ndarray, im: torch.Tensor, masks: torch.Tensor, det: torch.Tensor,
                retina_masks: bool) -> np.ndarray:
    """A copy of im0 with the masks painted in their class colours: over the letterboxed input scaled back to im0,
    or over im0 itself with --retina-masks, as v7.0."""
    canvas = np.ascontiguousarray(im0.copy())
    im_gpu = (torch.as_tensor(im0, device=masks.device).permute(2, 0, 1).flip(0).float() / 255) if retina_masks else im
    Annotator(canvas).masks(masks, [colors(int(c), True) for c in det[:, 5]], im_gpu, retina_masks=retina_masks)
    return canvas


@torch.inference_mode()
def run(weights: str | Path | list = ROOT / "yolov5s-seg.pt", source: str | Path = ROOT / "data/images",
        data: str | Path = ROOT / "data/coco128.yaml", imgsz: tuple[int, int] = (640, 640),
        conf_thres: float = 0.25, iou_thres: float = 0.45, max_det: int = 1000, device: str = "",
        view_img: bool = False, save_txt: bool = False, save_conf: bool = False, save_crop: bool = False,
        nosave: bool = False, classes: list[int] | None = None, agnostic_nms: bool = False, augment: bool = False,
        visualize: bool = False, update: bool = False, project: str | Path = ROOT / "runs/predict-seg",
        name: str = "exp", exist_ok: bool = False, line_thickness: int = 3, hide_labels: bool = False,
        hide_conf: bool = False, half: bool = False, dnn: bool = False, vid_stride: int = 1,
        retina_masks: bool = False) -> Path:
    """Segment every frame of source and save what was asked for; returns the run folder."""
    check_args(locals(), python=True)
    if augment:
        raise UserError("--augment is not supported for segmentation models (its merged predictions carry no masks)")
    source = str(source)
    save_img = not nosave and not source.endswith(".txt")
    kind = classify_source(source)
    if kind.is_url and kind.is_file:
        source = check_file(source)

    save_dir = run_folder(project, name, exist_ok, labels=save_txt)

    model = DetectMultiBackend(weights, device=select_device(device), dnn=dnn, data=data, fp16=half)
    names = model.names
    imgsz = model.export_imgsz(check_img_size(imgsz, s=model.stride))
    dataset = open_source(source, kind, imgsz, model.stride, model.input_shape is None, vid_stride)
    bs = len(dataset) if kind.webcam else 1
    model.check_input_size(imgsz, bs)
    saver = ResultSaver(save_dir, names, VideoSaver(bs), save_img, False, False, save_conf, save_crop,
                        view_img and can_show_windows(), line_thickness, hide_labels, hide_conf)
    model.warmup(imgsz=(1 if model.pt else bs, 3, *imgsz))

    seen, stages = 0, Stages()
    for path, im, im0s, vid_cap, s in dataset:
        stages.start()
        im = to_batch(im, model)
        stages.end(0)
        vis_dir = increment_path(save_dir / Path(path).stem, mkdir=True) if visualize else False
        pred, proto = split_output(model(im, visualize=vis_dir), weights)
        stages.end(1)
        pred = non_max_suppression(pred, conf_thres, iou_thres, classes, agnostic_nms, max_det=max_det, nm=32)
        stages.end(2)

        for i, det in enumerate(pred):
            seen += 1
            if kind.webcam:
                p, im0, frame = Path(path[i]), im0s[i].copy(), dataset.count
                s += f"{i}: "
            else:
                p, im0, frame = Path(path), im0s.copy(), getattr(dataset, "frame", 0)
            txt_path = str(save_dir / "labels" / p.stem) + ("" if dataset.mode == "image" else f"_{frame}")
            s += "%gx%g " % im.shape[2:]
            if len(det):
                masks = frame_masks(proto[i], det, im.shape[2:], im0.shape, retina_masks)
                s += count_summary(det, names)
                if save_txt:
                    write_polygons(txt_path, det, masks, im0.shape if retina_masks else im.shape[2:], im0.shape,
                                   save_conf)
                canvas = mask_canvas(im0, im[i], masks, det, retina_masks) if save_img or view_img else None
                im0 = saver.record(p, im0, det[:, :6], txt_path, canvas)
            saver.show_and_save(p, im0, dataset.mode, i, source_fps(vid_cap, dataset, i))
        LOGGER.info(f"{s}{'' if len(det) else '(no detections), '}{stages.last[1] * 1e3:.1f}ms")
    saver.videos.close()

    report_run(seen, stages, imgsz, source, save_dir, save_txt, save_img)
    if update:
        for w in weights if isinstance(weights, list) else [weights]:
            strip_optimizer(w)
    return save_dir


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """segment/predict.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = predict_parser("segment")
    parser.add_argument("--retina-masks", action="store_true", help="whether to plot masks in native resolution")
    return parse_predict(parser, argv, "predict: ")


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    run(**vars(opt))


if __name__ == "__main__":
    main(parse_opt())
