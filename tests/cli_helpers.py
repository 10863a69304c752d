"""Run a script's main() in-process exactly as `python <script>.py ARGS` does, to check what the user sees."""

from __future__ import annotations

import importlib

import pytest

from utils.errors import exit_on_user_error


def run_cli(script: str, args: list[str]) -> int:
    """The exit code of `python <script>.py args` (train, val, detect, export), run in this process."""
    module = importlib.import_module(script)
    opt = module.parse_opt(args=args) if script == "train" else module.parse_opt(args)
    try:
        exit_on_user_error(module.main)(opt)  # what each script's __main__ runs (val/detect/export wrap main already)
    except SystemExit as e:
        return e.code
    return 0


def one_line_error(script: str, args: list[str], capsys: pytest.CaptureFixture) -> str:
    """The single 'ERROR: ...' line a failing command prints to stderr; fails the test on a traceback or exit != 2."""
    capsys.readouterr()
    code = run_cli(script, args)
    err = capsys.readouterr().err
    assert code == 2, f"exit code {code}, stderr:\n{err}"
    assert err.startswith("ERROR: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err
