"""Parity table: this project's val.py, segment/val.py and classify/val.py figures beside YOLOv5 v7.0's printed ones.

Usage:
    python -m tools.parity --markdown docs/validation.md      # rewrite the table between the page's parity markers
    python -m tools.parity --tasks classify                   # print one task's rows only

YOLOv5's figures are what YOLOv5 v7.0 prints for the same weights, data and settings (../shared/README.md); this
project's are measured on every call, so the page cannot drift from the code.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.logger import LOGGER, colorstr  # noqa: E402

START, END = "<!-- parity table: start -->", "<!-- parity table: end -->"


@dataclass(frozen=True)
class Case:
    task: str  # 'detect', 'segment' or 'classify': which val script
    weights: str  # a file name in --weights-dir
    data: str
    imgsz: int
    batch: int
    yolov5: str  # the figures YOLOv5 v7.0 prints for this case; '' where none was taken


CASES = (
    Case("detect", "yolov5n.pt", "coco128.yaml", 640, 16, "0.586 0.508 0.568 0.365"),
    Case("detect", "yolov5n.pt", "coco128.yaml", 320, 16, "0.449 0.441 0.447 0.286"),
    Case("detect", "yolov5n.pt", "coco128.yaml", 640, 1, ""),
    Case("detect", "yolov5n.pt", "coco128.yaml", 320, 1, ""),
    Case("segment", "yolov5n-seg-coco128seg.pt", "coco128-seg.yaml", 320, 16,  # fused, as YOLOv5's repository runs
         "0.65 0.0286 0.0361 0.0208 / 0.764 0.0205 0.0278 0.0124"),  # it; unfused it prints 0.636 0.0319 (the README's)
    Case("classify", "yolov5n-cls-coco128cls.pt", "coco128-cls", 224, 32, "0.873 0.964"),
)
SCRIPTS = {"detect": "val", "segment": "segment.val", "classify": "classify.val"}
COLUMNS = {"detect": "P R mAP50 mAP50-95", "segment": "box P R mAP50 mAP50-95 / mask P R mAP50 mAP50-95",
           "classify": "top1 top5"}


def figures(case: Case, weights: Path, device: str = "", workers: int = 2) -> str:
    """The case's figures as its val script prints them (3 significant digits), from a run in a temporary folder."""
    val = importlib.import_module(SCRIPTS[case.task])
    common = dict(data=case.data, weights=str(weights), batch_size=case.batch, imgsz=case.imgsz, device=device,
                  workers=workers, half=False)
    with tempfile.TemporaryDirectory() as project:
        if case.task == "classify":
            r = val.run(project=project, **common)[:2]
        else:
            r = val.run(project=project, plots=False, **common)[0][:8 if case.task == "segment" else 4]
    r = [f"{v:.3g}" for v in r]
    return " / ".join(" ".join(r[i:i + 4]) for i in range(0, len(r), 4))  # segment: box / mask


def table(rows: list[tuple[Case, str]]) -> str:
    """A Markdown table of (case, this project's figures)."""
    lines = ["| script | `--weights` | `--data` | `--img` | `--batch-size` | figures | YOLOv5 v7.0 | this project |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {SCRIPTS[c.task].replace('.', '/')}.py | {c.weights} | {c.data} | {c.imgsz} | {c.batch} | "
              f"{COLUMNS[c.task]} | {c.yolov5 or '-'} | {ours} |" for c, ours in rows]
    return "\n".join(lines)


def write_between_markers(page: Path, text: str) -> None:
    """Replace what lies between the page's parity markers by text; the rest of the page is the author's."""
    old = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if len(pattern.findall(old)) != 1:
        raise UserError(f"--markdown {page}: needs one '{START}' ... '{END}' block to write the table into")
    page.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", old), encoding="utf-8")


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.parity", description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", type=Path, default=ROOT.parent / "shared/weights",
                        help="folder holding yolov5n.pt and the seg/cls checkpoints written by YOLOv5")
    parser.add_argument("--tasks", nargs="+", choices=list(SCRIPTS), default=list(SCRIPTS), help="rows to run")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or cpu")
    parser.add_argument("--workers", type=int, default=2, help="dataloader workers")
    parser.add_argument("--markdown", type=Path, help="write the table between this page's parity markers")
    return parser.parse_args(argv)


@exit_on_user_error
def main(opt: argparse.Namespace) -> str:
    rows = []
    for case in (c for c in CASES if c.task in opt.tasks):
        weights = opt.weights_dir / case.weights
        if not weights.is_file():
            raise UserError(f"--weights-dir {opt.weights_dir}: {case.weights} not found")
        rows.append((case, figures(case, weights, opt.device, opt.workers)))
    command = "python -m tools.parity " + " ".join(sys.argv[1:]) if sys.argv[1:] else "python -m tools.parity"
    text = (f"Written by `{command}` on {time.strftime('%Y-%m-%d')}; YOLOv5's figures are those it prints for the "
            f"same weights and data (NMS time limit off).\n\n{table(rows)}")
    LOGGER.info(f"\n{colorstr('parity:')}\n{text}")
    if opt.markdown:
        write_between_markers(opt.markdown, text)
        LOGGER.info(f"Table written to {colorstr('bold', opt.markdown)}")
    return text


if __name__ == "__main__":
    main(parse_opt())
