"""benchmarks.py: YOLOv5's export-format table (Format, Size, mAP50-95, ms/image), failures as blank rows."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pandas as pd
import pytest
import torch

import benchmarks
import export
from utils.errors import UserError


def _run(tmp_path, weights, *args: str) -> pd.DataFrame:
    opt = benchmarks.parse_opt(["--weights", str(weights), "--imgsz", "64", "--data", "coco8.yaml",
                                "--project", str(tmp_path), *args])
    return benchmarks.test(**vars(opt)) if opt.test else benchmarks.run(**vars(opt))


def test_pytorch_row_has_size_map_and_time(tmp_path, yolov5n_pt):
    py = _run(tmp_path, yolov5n_pt, "--pt-only")
    assert py.columns.tolist() == ["Format", "Size (MB)", "mAP50-95", "Inference time (ms)"]
    row = py.iloc[0]
    assert len(py) == 1 and row["Format"] == "PyTorch" and row["Size (MB)"] == round(yolov5n_pt.stat().st_size / 1e6, 1)
    assert 0 < row["mAP50-95"] < 1 and row["Inference time (ms)"] > 0
    assert (tmp_path / "exp" / "weights" / "yolov5n.pt").is_file()  # exports go beside a copy, not the shared file


def test_export_only_table_marks_failures(tmp_path, yolov5n_pt, monkeypatch):
    """An export that writes nothing is a False row and a warning; --hard-fail turns it into one error."""
    monkeypatch.setattr(benchmarks, "FORMATS", {"PyTorch": ("-", ".pt"), "ONNX": ("onnx", ".onnx")})
    assert _run(tmp_path, yolov5n_pt, "--test").values.tolist() == [["PyTorch", True], ["ONNX", True]]
    assert (tmp_path / "exp" / "weights" / "yolov5n.onnx").is_file()
    monkeypatch.setattr(export, "run", lambda **kw: [])
    assert _run(tmp_path, yolov5n_pt, "--test").values.tolist() == [["PyTorch", True], ["ONNX", False]]
    with pytest.raises(UserError, match="--hard-fail: ONNX: export to ONNX failed"):
        _run(tmp_path, yolov5n_pt, "--test", "--hard-fail")


def test_formats_without_a_runtime_here_are_skipped_with_why(tmp_path, yolov5n_pt, monkeypatch, log_lines):
    """Edge TPU, TF.js and TensorRT (and CoreML off macOS) are not exported: a blank row, the reason under the table,
    no failure even with --hard-fail (YOLOv5 alike)."""
    monkeypatch.setattr(benchmarks, "FORMATS", {"PyTorch": ("-", ".pt"), "TensorFlow.js": ("tfjs", "_web_model"),
                                                "TensorRT": ("engine", ".engine")})
    monkeypatch.setattr(export, "run", lambda **kw: pytest.fail(f"exported {kw['include']}"))
    py = _run(tmp_path, yolov5n_pt, "--hard-fail")
    assert py["Format"].tolist() == ["PyTorch", "TensorFlow.js", "TensorRT"] and py.iloc[1:, 1:].isna().all().all()
    table = next(x for x in log_lines if x.startswith("\nBenchmarks complete"))
    assert "TensorFlow.js: not run, TF.js models run in a browser" in table and "TensorRT: not run, TensorRT" in table
    assert f"{torch.get_num_threads()} CPU threads" in table


def test_isolated_format_runs_in_a_child_whose_crash_is_an_error():
    """Paddle crashes in a process that has loaded TensorFlow: its row runs in a fresh process, a crash is its error."""
    with pytest.raises(BrokenProcessPool):  # this process survives the abort
        benchmarks._call(True, os.abort)


def test_hard_fail_floor_checks_every_map():
    py = pd.DataFrame([["PyTorch", 4.1, 0.30, 9.0], ["ONNX", None, None, None], ["OpenVINO", 7.7, 0.25, 8.0]],
                      columns=["Format", "Size (MB)", "mAP50-95", "Inference time (ms)"])
    benchmarks._check_floor(py, "0.2")
    with pytest.raises(UserError, match="mAP50-95 of OpenVINO not above it"):
        benchmarks._check_floor(py, "0.29")


@pytest.mark.parametrize("args, message", [
    (["--hard-fail", "high"], "--hard-fail takes an mAP50-95 floor"),
    (["--weights", "missing.pt"], "ERROR: "),
    (["--data", "missing.yaml"], "ERROR: "),
])
def test_bad_flags_are_one_error_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        benchmarks.main(benchmarks.parse_opt(["--pt-only", "--project", str(tmp_path), *args]))
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err.splitlines()[-1]

