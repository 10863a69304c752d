"""Cost of a teacher: one training step (forward, YOLOv5 loss, backward, SGD step) with and without --teacher.

    python -m tools.benchmarks.distill_step --cfg yolov5n-ghostdyn.yaml --teacher ../shared/weights/yolov5n.pt \
        --imgsz 320 --batch 16 --threads 1 --runs 5

Sides take turns (tools/benchmarks/timing.measure); CPU time of this process, so that other load on the machine
counts as little as possible. The CPU is set up as train.py's (keep_freed_memory: glibc keeps freed memory) and the
teacher runs as in train.py (ONNX Runtime on CPU), with the eager teacher (the fallback) as a third side. Prints
seconds per step of each side and the ratios to the plain step.
"""

from __future__ import annotations

import argparse

import torch

from models.yolo import Model
from tools.benchmarks.timing import machine_summary, measure
from utils.files import ROOT, yaml_load
from utils.torch_utils import keep_freed_memory, smart_optimizer
from engine.distillation import DIST_HYP, Distiller, load_teacher
from utils.training.loss import ComputeLoss


def random_batch(batch: int, imgsz: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images, each with four random boxes of random COCO classes (timing only)."""
    g = torch.Generator().manual_seed(0)
    n = 4 * batch
    boxes = torch.cat((torch.rand(n, 2, generator=g) * 0.6 + 0.2, torch.rand(n, 2, generator=g) * 0.3 + 0.05), 1)
    cls = torch.randint(0, 80, (n, 1), generator=g).float()
    targets = torch.cat((torch.arange(batch).repeat_interleave(4).view(-1, 1).float(), cls, boxes), 1)
    return torch.rand(batch, 3, imgsz, imgsz, generator=g), targets


def step_fn(cfg: str, teacher: str | None, imgs: torch.Tensor, targets: torch.Tensor, onnx: bool = True):
    """A closure doing one training step of a fresh model from cfg, distilled from teacher when given (run by
    ONNX Runtime when onnx, else eagerly)."""
    hyp = {**DIST_HYP, **yaml_load(ROOT / "data/hyps/hyp.scratch-low.yaml")}
    model = Model(cfg).train()
    model.hyp = hyp
    optimizer = smart_optimizer(model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"])
    compute_loss = ComputeLoss(model)
    distiller = Distiller(model, load_teacher(teacher, model, torch.device("cpu")), hyp, onnx) if teacher else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pred = distiller.student_forward(model, imgs) if distiller else model(imgs)
        loss = compute_loss(pred, targets)[0]
        if distiller:
            loss = loss + distiller.loss(imgs, pred)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="yolov5n-ghostdyn.yaml", help="student model YAML")
    parser.add_argument("--teacher", default=str(ROOT.parent / "shared/weights/yolov5n.pt"), help="teacher weights")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    opt = parser.parse_args()
    torch.set_num_threads(opt.threads)
    keep_freed_memory("cpu")
    imgs, targets = random_batch(opt.batch, opt.imgsz)
    steps = {"plain": step_fn(opt.cfg, None, imgs, targets), "teacher": step_fn(opt.cfg, opt.teacher, imgs, targets),
             "eager": step_fn(opt.cfg, opt.teacher, imgs, targets, onnx=False)}
    t = measure(steps, opt.runs, clock="cpu")
    print(machine_summary(opt.threads))
    print(f"{opt.cfg}, batch {opt.batch} at {opt.imgsz}, CPU s/step (median of {opt.runs}, sides alternating): "
          f"plain {t['plain']:.3f}, with teacher {t['teacher']:.3f}, ratio {t['teacher'] / t['plain']:.2f}x "
          f"(eager PyTorch teacher, train.py's fallback: {t['eager']:.3f}, {t['eager'] / t['plain']:.2f}x)")


if __name__ == "__main__":
    main()
