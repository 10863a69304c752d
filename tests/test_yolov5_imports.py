"""YOLOv5's import paths: a script written as a YOLOv5 user writes one runs unchanged against this repository."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT, shared_path

# A typical user script: YOLOv5's imports, a loop over images, NMS, scale_boxes, Annotator; prints one line per image.
USER_SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path

    import numpy as np
    import torch

    from models.common import AutoShape, DetectMultiBackend
    from models.experimental import attempt_load
    from utils.augmentations import letterbox
    from utils.dataloaders import LoadImages, LoadStreams, create_dataloader
    from utils.general import (LOGGER, Profile, check_img_size, cv2, increment_path, non_max_suppression, scale_boxes,
                               strip_optimizer)
    from utils.metrics import ConfusionMatrix, ap_per_class, box_iou
    from utils.plots import Annotator, colors
    from utils.torch_utils import select_device, smart_inference_mode


    @smart_inference_mode()
    def run(weights, source, out_dir, imgsz=640):
        device = select_device("cpu")
        model = DetectMultiBackend(weights, device=device)
        stride, names, pt = model.stride, model.names, model.pt
        imgsz = check_img_size(imgsz, s=stride)
        save_dir = increment_path(Path(out_dir) / "exp", mkdir=True)
        dt = (Profile(), Profile(), Profile())
        cm, seen = ConfusionMatrix(nc=len(names)), []
        for path, im, im0s, vid_cap, s in LoadImages(source, img_size=imgsz, stride=stride, auto=pt):
            with dt[0]:
                im = torch.from_numpy(im).to(model.device).float() / 255
                if len(im.shape) == 3:
                    im = im[None]
            with dt[1]:
                pred = model(im)
            with dt[2]:
                pred = non_max_suppression(pred, 0.25, 0.45, None, False, max_det=1000)
            for det in pred:
                annotator = Annotator(im0s.copy(), line_width=3, example=str(names))
                det[:, :4] = scale_boxes(im.shape[2:], det[:, :4], im0s.shape).round()
                counts = {}
                for *xyxy, conf, cls in reversed(det):
                    c = int(cls)
                    counts[names[c]] = counts.get(names[c], 0) + 1
                    annotator.box_label(xyxy, f"{names[c]} {conf:.2f}", color=colors(c, True))
                cv2.imwrite(str(save_dir / Path(path).name), annotator.result())
                cm.process_batch(det, torch.cat((det[:, 5:6], det[:, :4]), 1))  # its own detections as labels
                seen.append(det)
                print(Path(path).name, sorted(counts.items()))
        det = torch.cat(seen)
        tp = (box_iou(det[:, :4], det[:, :4]).diagonal() > 0.5)[:, None].repeat(1, 10).numpy()
        *_, ap, classes = ap_per_class(tp, det[:, 4].numpy(), det[:, 5].numpy(), det[:, 5].numpy(), plot=False,
                                       save_dir=save_dir, names=names)
        print("ap_per_class", classes.tolist(), np.round(ap[:, 0], 3).tolist(), "matched", int(cm.matrix.trace()))
        raw = attempt_load(weights, device=device)
        print("attempt_load", type(raw).__name__, len(raw.names), type(AutoShape(raw)).__name__)
        print("letterbox", letterbox(im0s, 320, stride=32)[0].shape, LoadStreams.__name__, create_dataloader.__name__)
        LOGGER.info(f"done in {sum(x.t for x in dt):.1f}s ({strip_optimizer.__name__} importable)")


    run(sys.argv[1], sys.argv[2], sys.argv[3])
''')


def test_yolov5_style_user_script_runs_unchanged(tmp_path):
    weights = shared_path("weights/yolov5n.pt")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("bus.jpg", "zidane.jpg"):
        (images / name).write_bytes(shared_path(f"images/{name}").read_bytes())
    script = tmp_path / "my_detect.py"
    script.write_text(USER_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(weights), str(images), str(tmp_path / "runs")], cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert "bus.jpg [('bus', 1), ('person', 4)]" in lines
    assert "zidane.jpg [('person', 2), ('tie', 1)]" in lines
    assert "attempt_load DetectionModel 80 AutoShape" in lines
    assert "ap_per_class [0, 5, 27] [0.995, 0.995, 0.995] matched 8" in lines  # utils.metrics, YOLOv5's signature
    assert (tmp_path / "runs" / "exp" / "bus.jpg").stat().st_size > 10_000
