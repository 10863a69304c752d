"""Run a detector on images, folders, globs, videos, cameras and streams; save annotated results to runs/detect.

Usage:
    python detect.py --weights yolov5n.pt --source data/images          # folder
                                                    img.jpg              # image
                                                    vid.mp4              # video
                                                    0                    # webcam
                                                    'path/*.jpg'         # glob
                                                    list.txt             # list of images
                                                    list.streams         # list of streams
                                                    'rtsp://host/stream' # RTSP / RTMP / HTTP stream
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from models.backends import DetectMultiBackend
from utils.annotator import Annotator, colors
from utils.boxes import scale_boxes, write_yolo_labels
from models.checkpoints import strip_optimizer
from utils.checks import check_args, check_img_size, check_imshow
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT, OutputNames, check_file, increment_path, run_folder, safe_filename
from utils.logger import LOGGER
from utils.inference.nms import non_max_suppression
from utils.evaluation.plots import save_one_box
from utils.inference.sources import LoadImages, LoadStreams, SourceKind, classify_source
from utils.torch_utils import keep_freed_memory, select_device, to_float_image
from utils.torch_compile import compile_backend
from utils.inference.stages import Stages
from utils.inference.predict_cli import parse_predict, predict_parser, report_run


def can_show_windows() -> bool:
    """True when OpenCV can open a window; else one warning and --view-img is ignored (never a Qt abort)."""
    return check_imshow(warn=True)


class VideoSaver:
    """One cv2.VideoWriter per output slot, reopened when the source file changes; keeps the source's fps and size."""

    def __init__(self, n: int):
        self.paths: list[str | None] = [None] * n
        self.writers: list[cv2.VideoWriter | None] = [None] * n

    def write(self, i: int, save_path: str, im0: np.ndarray, fps: float) -> None:
        if self.paths[i] != save_path:
            self.paths[i] = save_path
            if self.writers[i] is not None:
                self.writers[i].release()
            h, w = im0.shape[:2]
            file = str(Path(save_path).with_suffix(".mp4"))
            self.writers[i] = cv2.VideoWriter(file, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        self.writers[i].write(im0)

    def close(self) -> None:
        for w in self.writers:
            if w is not None:
                w.release()


def source_fps(vid_cap: cv2.VideoCapture | None, dataset, i: int) -> float:
    """Frame rate to write: the video file's, the stream's as measured at open, else 30."""
    if vid_cap is not None:
        fps = vid_cap.get(cv2.CAP_PROP_FPS)
        return fps if fps > 0 else 30.0
    return dataset.fps[i] if hasattr(dataset, "fps") else 30.0


def count_summary(det: torch.Tensor, names: dict[int, str]) -> str:
    """'4 persons, 1 bus, ' in class-id order, as YOLOv5 prints after each image."""
    s = ""
    for c in det[:, 5].unique():
        n = int((det[:, 5] == c).sum())
        s += f"{n} {names[int(c)]}{'s' * (n > 1)}, "
    return s


@dataclass
class ResultSaver:
    """Everything detect.py writes for one frame: annotated image/video, label lines, crops and CSV rows."""

    save_dir: Path
    names: dict[int, str]
    videos: VideoSaver
    save_img: bool = True
    save_txt: bool = False
    save_csv: bool = False
    save_conf: bool = False
    save_crop: bool = False
    view_img: bool = False
    line_thickness: int = 3
    hide_labels: bool = False
    hide_conf: bool = False
    save_format: int = 0  # --save-txt boxes: 0 YOLO xywh, 1 Pascal-VOC xyxy (both normalized)

    def record(self, p: Path, im0: np.ndarray, det: torch.Tensor, txt_path: str,
               canvas: np.ndarray | None = None) -> np.ndarray:
        """Write label lines, crops and CSV rows for det (boxes in im0 pixels); return im0 (or canvas, an image of
        im0's size already drawn on: segment/predict.py's masks) annotated if drawn. Crops are cut from im0."""
        if self.save_txt:  # lines in the order YOLOv5 writes them: last detection first
            write_yolo_labels(f"{txt_path}.txt", det.flip(0), im0.shape, self.save_conf, self.save_format)
        imc = im0.copy() if self.save_crop else im0
        annotator = Annotator(im0 if canvas is None else canvas, line_width=self.line_thickness,
                              example=str(self.names))
        for *xyxy, conf, cls in reversed(det):
            c = int(cls)
            if self.save_csv:
                append_csv(self.save_dir / "predictions.csv", p.name, self.names[c], float(conf))
            if self.save_img or self.save_crop or self.view_img:
                name = self.names[c]
                label = "" if self.hide_labels else (name if self.hide_conf else f"{name} {conf:.2f}")
                annotator.box_label(xyxy, label, color=colors(c, True))
            if self.save_crop:
                save_one_box(xyxy, imc, file=self.save_dir / "crops" / safe_filename(self.names[c]) / f"{p.stem}.jpg",
                             BGR=True)
        return annotator.result()

    def show_and_save(self, p: Path, im0: np.ndarray, mode: str, i: int, fps: float) -> None:
        """Display the frame and/or write it: images as files, video frames into the slot's video."""
        if self.view_img:
            cv2.imshow(str(p), im0)
            cv2.waitKey(1)
        if self.save_img:
            save_path = str(self.save_dir / p.name)
            if mode == "image":
                if not cv2.imwrite(save_path, im0):  # OpenCV only returns False: a full disk must not pass silently
                    raise UserError(f"cannot write {save_path} (disk full, a file size limit or a read-only folder)")
            else:
                self.videos.write(i, save_path, im0, fps)


def to_batch(im: np.ndarray, model: DetectMultiBackend) -> torch.Tensor:
    """uint8 CHW or BCHW array -> float (or half) BCHW tensor in [0, 1] on the model's device."""
    x = to_float_image(im, model.device, model.fp16)
    return x[None] if x.ndim == 3 else x


def open_source(source: str, kind: SourceKind, imgsz: list[int], stride: int, auto: bool, vid_stride: int):
    """LoadStreams for cameras and stream URLs, LoadImages for everything else."""
    if kind.webcam:
        return LoadStreams(source, img_size=imgsz, stride=stride, auto=auto, vid_stride=vid_stride)
    return LoadImages(source, img_size=imgsz, stride=stride, auto=auto, vid_stride=vid_stride)


@torch.inference_mode()
def run(weights: str | Path | list = ROOT / "yolov5s.pt", source: str | Path = ROOT / "data/images",
        data: str | Path = ROOT / "data/coco128.yaml", imgsz: tuple[int, int] = (640, 640), conf_thres: float = 0.25,
        iou_thres: float = 0.45, max_det: int = 1000, device: str = "", view_img: bool = False,
        save_txt: bool = False, save_csv: bool = False, save_conf: bool = False, save_crop: bool = False,
        nosave: bool = False, classes: list[int] | None = None, agnostic_nms: bool = False, augment: bool = False,
        visualize: bool = False, update: bool = False, project: str | Path = ROOT / "runs/detect", name: str = "exp",
        exist_ok: bool = False, line_thickness: int = 3, hide_labels: bool = False, hide_conf: bool = False,
        half: bool = False, dnn: bool = False, vid_stride: int = 1, compile: bool = False, save_format: int = 0) -> Path:
    """Detect objects in every frame of source and save what was asked for; returns the run folder."""
    check_args(locals(), python=True)  # Python callers get the CLI's checks, naming `key=`
    source = str(source)
    save_img = not nosave and not source.endswith(".txt")
    kind = classify_source(source)
    if kind.is_url and kind.is_file:
        source = check_file(source)

    save_dir = run_folder(project, name, exist_ok, labels=save_txt)  # one line if it cannot be made

    device = select_device(device)
    keep_freed_memory(device)
    model = DetectMultiBackend(weights, device=device, dnn=dnn, data=data, fp16=half)
    if compile:
        compile_backend(model, device, "detect: ")
    names = model.names
    imgsz = model.export_imgsz(check_img_size(imgsz, s=model.stride))
    auto = model.input_shape is None  # minimum rectangles unless the model was exported for one fixed shape
    dataset = open_source(source, kind, imgsz, model.stride, auto, vid_stride)
    bs = len(dataset) if kind.webcam else 1
    model.check_input_size(imgsz, bs)
    saver = ResultSaver(save_dir, names, VideoSaver(bs), save_img, save_txt, save_csv, save_conf, save_crop,
                        view_img and can_show_windows(), line_thickness, hide_labels, hide_conf, save_format)
    model.warmup(imgsz=(1 if model.pt else bs, 3, *imgsz))

    seen, stages, outputs = 0, Stages(), OutputNames()
    for path, im, im0s, vid_cap, s in dataset:
        stages.start()
        im = to_batch(im, model)
        stages.end(0)
        vis_dir = increment_path(save_dir / Path(path).stem, mkdir=True) if visualize else False
        pred = model(im, augment=augment, visualize=vis_dir)
        stages.end(1)
        pred = non_max_suppression(pred, conf_thres, iou_thres, classes, agnostic_nms, max_det=max_det)
        stages.end(2)

        for i, det in enumerate(pred):
            seen += 1
            if kind.webcam:
                p, im0, frame = Path(path[i]), im0s[i].copy(), dataset.count
                s += f"{i}: "
            else:
                p, im0, frame = Path(path), im0s.copy(), getattr(dataset, "frame", 0)
            p = p.with_name(outputs.stem(p) + p.suffix)  # a.jpg and a.png (or two folders' a.jpg) get distinct files
            txt_path = str(save_dir / "labels" / p.stem) + ("" if dataset.mode == "image" else f"_{frame}")
            s += "%gx%g " % im.shape[2:]
            if len(det):
                det[:, :4] = scale_boxes(im.shape[2:], det[:, :4], im0.shape).round()
                s += count_summary(det, names)
                im0 = saver.record(p, im0, det, txt_path)
            saver.show_and_save(p, im0, dataset.mode, i, source_fps(vid_cap, dataset, i))
        LOGGER.info(f"{s}{'' if len(det) else '(no detections), '}{stages.last[1] * 1e3:.1f}ms")
    saver.videos.close()

    report_run(seen, stages, imgsz, source, save_dir, save_txt, save_img)
    if update:
        for w in weights if isinstance(weights, list) else [weights]:
            strip_optimizer(w)
    return save_dir


def append_csv(csv_path: Path, image_name: str, prediction: str, confidence: float) -> None:
    """One row of predictions.csv (Image Name, Prediction, Confidence); writes the header on first use."""
    new = not csv_path.exists()
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["Image Name", "Prediction", "Confidence"])
        if new:
            writer.writeheader()
        writer.writerow({"Image Name": image_name, "Prediction": prediction, "Confidence": f"{confidence:.2f}"})


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """detect.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = predict_parser("detect")
    parser.add_argument("--save-format", type=int, default=0, choices=(0, 1),
                        help="--save-txt box coordinates: 0 YOLO (normalized xywh), 1 Pascal-VOC (normalized xyxy)")
    parser.add_argument("--save-csv", action="store_true", help="save results in CSV format")
    parser.add_argument("--compile", action="store_true", help="PyTorch weights: run the model through torch.compile")
    return parse_predict(parser, argv, "detect: ")


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    run(**vars(opt))


if __name__ == "__main__":
    main(parse_opt())
