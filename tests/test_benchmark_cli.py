"""tools/benchmarks/cli.py: the shared flags, the section list, thread restore and the --markdown report."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from tools.benchmarks import cli


def test_markdown_file_holds_method_command_and_tables(tmp_path):
    threads = torch.get_num_threads()
    f = tmp_path / "docs" / "benchmarks.md"
    tables = cli.run(cli.parse_opt(["headline", "--quick", "--weights", "yolov5n.yaml", "--threads", "1",
                                    "--markdown", str(f)]))
    assert list(tables) == ["headline"] and torch.get_num_threads() == threads
    text = f.read_text()
    assert text.startswith("# Developer benchmarks") and "median of the runs" in text
    # the section's method, from its docstring
    assert "Parameters (unfused, as trained), GFLOPs and MB read and written" in text
    assert "Command: `python -m tools.benchmarks headline --quick" in text and "| yolov5n | 1872157 |" in text


def test_sections_run_in_their_own_order():
    assert cli.parse_opt(["loader", "kernels"]).sections == ["kernels", "loader"]
    assert cli.parse_opt([]).sections == list(cli.SECTIONS)


@pytest.mark.parametrize("args", [["speed"], ["--runs", "0"]])
def test_bad_flags_are_one_error_line(capsys, args):
    with pytest.raises(SystemExit) as e:
        cli.parse_opt(args)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err.splitlines()[-1]


def test_markdown_rounds_and_marks_missing_values():
    md = cli.markdown(pd.DataFrame([{"a": "x", "ms": 12.345, "map": 0.34261, "diff": 1.2e-6, "zero": 0.0,
                                     "ratio": math.nan}]))
    assert md.splitlines()[0] == "| a | ms | map | diff | zero | ratio |"
    assert md.splitlines()[2] == "| x | 12.35 | 0.343 | 1.2e-06 | 0 | - |"
