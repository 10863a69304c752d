"""Plant known YOLOv5-behaviour bugs one at a time in a copy of the repo and show which test catches each.

Usage: python tools/mutants.py [--rev HEAD] [--only NAME ...] [--keep DIR]
Each mutant is a one-line text substitution; the copy comes from `git archive <rev>`, so the working tree is never
touched. A mutant is 'killed' when its test selection fails on it after passing on the unmutated copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # file to mutate, relative to the repo root
    old: str  # must occur exactly once in that file
    new: str
    tests: tuple[str, ...]  # pytest arguments: file and optional -k selection


LOSS = ("tests/test_loss.py", "-k", "yolov5 or golden")
MUTANTS = (
    Mutant("objectness level balance 4/1/0.4 -> 1/1/1", "utils/training/loss.py",
           "LEVEL_BALANCE = {3: [4.0, 1.0, 0.4]}", "LEVEL_BALANCE = {3: [1.0, 1.0, 1.0]}", LOSS),
    Mutant("EMA without its decay ramp", "utils/torch_utils.py",
           "self.decay = lambda x: decay * (1 - math.exp(-x / tau))", "self.decay = lambda x: decay",
           ("tests/test_torch_utils.py", "-k", "ema")),
    Mutant("nominal batch 64 -> 16", "utils/training/lr_schedule.py",
           "NOMINAL_BATCH = 64", "NOMINAL_BATCH = 16", ("tests/test_lr_schedule.py",)),
    Mutant("weight decay on BatchNorm weights", "utils/torch_utils.py",
           'optimizer.add_param_group({"params": g_bn, "weight_decay": 0.0})',
           'optimizer.add_param_group({"params": g_bn, "weight_decay": decay})',
           ("tests/test_torch_utils.py", "-k", "optimizer")),
    Mutant("neighbour-cell reach 0.5 -> 0.3", "utils/training/loss.py",
           "CELL_REACH = 0.5", "CELL_REACH = 0.3", LOSS),
    Mutant("anchor_t `<` -> `<=`", "utils/training/loss.py",
           'max(2)[0] < self.hyp["anchor_t"]', 'max(2)[0] <= self.hyp["anchor_t"]', LOSS),
    Mutant("objectness target IoU -> 1", "utils/training/loss.py",
           "tobj[b, a, gj, gi] = (1.0 - self.gr) + self.gr * iou", "tobj[b, a, gj, gi] = 1.0", LOSS),
    Mutant("box loss mean -> sum", "utils/training/loss.py",
           "lbox += (1.0 - iou).mean()", "lbox += (1.0 - iou).sum()", LOSS),
    Mutant("HSV hue modulo 180 -> 255", "utils/data/augmentations.py",
           "lut_hue = ((x * r[0]) % 180)", "lut_hue = ((x * r[0]) % 255)",
           ("tests/test_augmentations.py", "-k", "hsv")),
    Mutant("mixup Beta(32, 32) -> Beta(1, 1)", "utils/data/augmentations.py",
           "np.random.beta(32.0, 32.0)", "np.random.beta(1.0, 1.0)", ("tests/test_augmentations.py", "-k", "mixup")),
    Mutant("AutoAnchor BPR threshold 0.98 -> 0.5", "utils/training/autoanchor.py",
           "BPR_GOOD = 0.98", "BPR_GOOD = 0.5", ("tests/test_autoanchor.py", "-k", "yolov5")),
)


def export(rev: str, dest: Path) -> None:
    """The tree of `rev` unpacked into dest (git archive | tar -x), with nothing of the working tree."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[list[str], list[str], int]:
    """(failed test ids, skipped test ids, number run) of a pytest run in the copy."""
    report = copy / "mutant-report.xml"
    env = {**os.environ, "YOLO_SHARED": os.environ.get("YOLO_SHARED", str(ROOT.parent / "shared"))}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *tests],
                   cwd=copy, env=env, capture_output=True)
    if not report.exists():
        return ["<pytest did not run>"], [], 0
    failed, skipped, n = [], [], 0
    for case in ET.parse(report).getroot().iter("testcase"):
        n += 1
        test_id = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(test_id)
        elif case.find("skipped") is not None:
            skipped.append(test_id)
    report.unlink()
    return failed, skipped, n


def check_mutant(copy: Path, m: Mutant, baselines: dict) -> tuple[str, str]:
    """('killed' | 'survived' | 'invalid: why', the failing tests) for one mutant."""
    if m.tests not in baselines:
        baselines[m.tests] = run_tests(copy, m.tests)
    failed, skipped, n = baselines[m.tests]
    if failed or skipped or not n:
        return f"invalid: unmutated copy has {len(failed)} failed / {len(skipped)} skipped of {n}", ", ".join(
            failed + skipped)
    target = copy / m.path
    source = target.read_text()
    if source.count(m.old) != 1:
        return f"invalid: '{m.old}' occurs {source.count(m.old)} times in {m.path}", ""
    target.write_text(source.replace(m.old, m.new))
    try:
        failed, _, _ = run_tests(copy, m.tests)
    finally:
        target.write_text(source)
    return ("killed" if failed else "survived"), ", ".join(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="git revision to copy and mutate")
    parser.add_argument("--only", nargs="*", default=[], help="run only mutants whose name contains one of these")
    parser.add_argument("--keep", type=Path, help="unpack the copy here and keep it (default: a temporary folder)")
    opt = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not opt.only or any(s in m.name for s in opt.only)]
    copy = opt.keep or Path(tempfile.mkdtemp(prefix="mutants-"))
    copy.mkdir(parents=True, exist_ok=True)
    export(opt.rev, copy)
    baselines: dict = {}
    results = []
    try:
        for m in mutants:
            verdict, tests = check_mutant(copy, m, baselines)
            results.append(verdict)
            print(f"{m.name:45s} -> {verdict:9s} {tests}", flush=True)
    finally:
        if not opt.keep:
            shutil.rmtree(copy, ignore_errors=True)
    killed = results.count("killed")
    print(f"{killed}/{len(results)} mutants killed")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
