"""Which blocks cost a distilled student its mAP: the student scored with its teacher's block put back in place.

The blocks are those the warm start trains: layers unlike the teacher's at the same index, with the same output
shape. A swap that gains much marks the block where more imitation or capacity would pay; the swap of every block
shows what the student's other layers, co-adapted to its own blocks, cost by themselves. Score it on images that
training never saw (the held-out split).

    python -m tools.distill_blocks --student runs/train/exp/weights/best.pt --teacher yolov5n.pt \\
        --data coco128-split.yaml --img 320
"""

from __future__ import annotations

import argparse
from copy import deepcopy

import torch.nn as nn

from models.loading import attempt_load
from utils.checks import check_args, check_img_size
from utils.data.config import check_dataset
from utils.data.loaders import create_dataloader
from utils.errors import UserError, exit_on_user_error
from utils.logger import LOGGER, colorstr
from utils.torch_utils import keep_freed_memory, select_device
from engine.warm_start import imitating_blocks
from val import evaluate

ROW = "%-28s%10s%10s%10s"


def with_teacher_layers(student: nn.Module, teacher: nn.Module, layers: list[int]) -> nn.Module:
    """A copy of student whose layers at the given indices are copies of the teacher's."""
    hybrid = deepcopy(student)
    for i in layers:
        hybrid.model[i] = deepcopy(teacher.model[i])
    return hybrid


def swaps(student: nn.Module, blocks: list[int]) -> dict[str, list[int]]:
    """What to put back: nothing, each block alone, the backbone's blocks, the head's, and all of them."""
    n_backbone = len(student.yaml["backbone"])
    backbone, head = [i for i in blocks if i < n_backbone], [i for i in blocks if i >= n_backbone]
    groups = {"none (the student)": []} | {f"layer {i}": [i] for i in blocks}
    if backbone and head:
        groups |= {"backbone blocks": backbone, "head blocks": head}
    return groups | {"all blocks": blocks}


def student_blocks(student: nn.Module, teacher: nn.Module, imgsz: int) -> list[int]:
    """The student's layers unlike the teacher's that can be swapped for them; refused when there are none."""
    blocks = imitating_blocks(student, teacher, imgsz)
    if not blocks:
        raise UserError("the student has no block unlike the teacher's: its mAP cannot be traced to blocks")
    return blocks


def blame(student: nn.Module, teacher: nn.Module, blocks: list[int], dataloader, nc: int) -> dict[str, tuple]:
    """{swap: (mAP50, mAP50-95)} of the student with each swap's layers from the teacher, printed as a table."""
    LOGGER.info(ROW % ("layers from the teacher", "mAP50", "mAP50-95", "change"))
    scores, base = {}, None
    for name, layers in swaps(student, blocks).items():
        m = evaluate(with_teacher_layers(student, teacher, layers), dataloader, nc).metrics
        map50, map_ = scores[name] = (float(m["map50"]), float(m["map"]))
        base = map_ if base is None else base
        LOGGER.info(ROW % (name, f"{map50:.4f}", f"{map_:.4f}", f"{map_ - base:+.4f}" if layers else ""))
    return scores


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", required=True, help="the distilled model's weights (best.pt)")
    parser.add_argument("--teacher", required=True, help="the teacher's weights (e.g. yolov5n.pt)")
    parser.add_argument("--data", required=True, help="dataset.yaml whose val images score the swaps")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers")
    return parser.parse_args(argv)


@exit_on_user_error
def main(opt: argparse.Namespace) -> dict[str, tuple[float, float]]:
    check_args(vars(opt))
    device = select_device(opt.device, batch_size=opt.batch_size)
    keep_freed_memory(device)
    student, teacher = attempt_load(opt.student, device), attempt_load(opt.teacher, device)  # fused, float, eval
    data = check_dataset(opt.data)
    nc = int(data["nc"])
    if student.model[-1].nc != nc:
        raise UserError(f"--student {opt.student} has {student.model[-1].nc} classes, --data {opt.data} has {nc}")
    stride = int(student.stride.max())
    imgsz = check_img_size(opt.imgsz, s=stride)
    blocks = student_blocks(student, teacher, imgsz)
    dataloader = create_dataloader(data["val"], imgsz, opt.batch_size, stride, pad=0.5, rect=True,
                                   workers=opt.workers, prefix=colorstr("val: "), nc=nc)[0]
    return blame(student, teacher, blocks, dataloader, nc)


if __name__ == "__main__":
    main(parse_opt())
