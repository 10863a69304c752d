"""benchmarks.py at --quick sizes: every section makes its table with the rows and checks it promises."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import benchmarks
from utils.files import ROOT

GHOST, NANO = "yolov5n-ghostdyn.yaml", "yolov5n.yaml"
GHOST_VARIANTS = ["timm reference, unfused", "fast, unfused", "fast, fused"]


def _tables(tmp_path, *args: str) -> dict:
    return benchmarks.run(benchmarks.parse_opt(["--quick", "--project", str(tmp_path), "--name", "b", *args]))


def test_model_sections_compare_fast_with_timm(tmp_path):
    threads = torch.get_num_threads()
    t = _tables(tmp_path, "--weights", NANO, GHOST, "--section", "dynconv", "inference", "train")
    assert torch.get_num_threads() == threads  # --threads is restored afterwards

    dyn = t["dynconv"]
    assert dyn["layer"].iloc[-1].startswith("total (yolov5n-ghostdyn") and dyn["n"].iloc[-1] == 22
    assert dyn["n"].iloc[:-1].sum() == 22 and len(dyn) == 9  # 8 distinct shapes at 64 px, then the total
    assert (dyn["out max abs diff"] <= 1e-4).all() and (dyn["grad max rel diff"] <= 1e-4).all()
    assert (dyn[["fwd timm ms", "fwd fast ms", "fwd+bwd timm ms", "fwd+bwd fast ms"]] > 0).all().all()

    inf = t["inference"]
    assert inf[inf.model == "yolov5n"]["variant"].tolist() == ["unfused", "fused"]
    ghost = inf[inf.model == "yolov5n-ghostdyn"]
    assert ghost["variant"].tolist() == GHOST_VARIANTS
    assert (ghost["max abs diff"] <= 1e-4).all() and ghost["b1 x vs ref"].iloc[0] == 1
    assert {"b1 ms/img", "b2 ms/img"} <= set(inf.columns) and inf[inf.model == "yolov5n"]["b1 x vs ref"].isna().all()

    train = t["train"]
    assert train["variant"].tolist() == ["fast", "timm reference", "fast"]
    assert (train["loss abs diff"] <= 1e-4).all() and (train["b2 ms/img"] > 0).all()

    report = (tmp_path / "b" / "benchmarks.md").read_text()
    assert "DynamicConv layers alone" in report and "| yolov5n-ghostdyn | fast, fused |" in report


def test_memory_section_rows(tmp_path, monkeypatch):
    """One row per inference variant and training side; the jobs run in-process here to keep the test short."""
    monkeypatch.setattr(benchmarks, "in_fresh_process", lambda job, *args: job(*args))
    mem = _tables(tmp_path, "--weights", GHOST, "--section", "memory")["memory"]
    assert mem["variant"].tolist() == GHOST_VARIANTS + ["timm reference", "fast"]
    assert mem["mode"].tolist() == ["inference b2"] * 3 + ["train b2"] * 2
    assert (mem["peak RSS MB"] > 100).all() and (mem["peak - before call RSS MB"] > -50).all()


def test_export_section_pytorch_rows(tmp_path):
    exp = _tables(tmp_path, "--weights", GHOST, "--section", "export", "--pt-only", "--data", "coco8.yaml")["export"]
    assert exp["Format"].tolist() == ["PyTorch", "PyTorch (timm reference)"]
    assert exp["mAP50-95"].between(0, 1).all() and (exp["Inference time (ms)"] > 0).all()
    assert exp["x of timm ref time"].iloc[1] == 1
    assert (tmp_path / "b" / "weights" / "yolov5n-ghostdyn.pt").is_file()


def test_export_section_backends_without_validation(tmp_path):
    exp = _tables(tmp_path, "--weights", GHOST, "--section", "export", "--test")["export"]
    formats = exp["Format"].tolist()
    assert formats[:3] == ["PyTorch", "TorchScript", "ONNX"] and formats[-1] == "PyTorch (timm reference)"
    assert exp["mAP50-95"].isna().all() and (exp["Size (MB)"] > 0).all()


def test_loader_section_reads_one_epoch(tmp_path):
    row = _tables(tmp_path, "--section", "loader", "--data", "coco8.yaml")["loader"].iloc[0]
    assert row["data"] == "coco8/images/train" and row["images"] == 4 and row["mosaic"] and row["images/s"] > 0
    assert row["peak MB (main RSS + workers USS)"] > 100


def test_static_models_skip_the_dynconv_table():
    s = benchmarks.settings(benchmarks.parse_opt(["--quick"]))
    assert benchmarks.bench_dynconv({"static": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))}, s) is None


@pytest.mark.parametrize("args, message", [
    (["--half", "--device", "cpu"], "ERROR: --half needs a CUDA device"),
    (["--weights", "missing.yaml"], "ERROR: "),
])
def test_bad_flags_are_one_error_line(tmp_path, args, message):
    r = subprocess.run([sys.executable, "benchmarks.py", "--quick", "--section", "inference", "--project",
                        str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_markdown_rounds_and_marks_missing_values():
    import pandas as pd

    md = benchmarks.markdown(pd.DataFrame([{"a": "x", "ms": 12.345, "map": 0.34261, "diff": 1.2e-6, "zero": 0.0,
                                            "ratio": math.nan}]))
    assert md.splitlines()[0] == "| a | ms | map | diff | zero | ratio |"
    assert md.splitlines()[2] == "| x | 12.35 | 0.343 | 1.2e-06 | 0 | - |"
