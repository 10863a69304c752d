"""Hyp files: types and ranges of every key checked before training; YAML 1.1's string '5e-4' used as a number."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from utils.errors import UserError
from utils.files import ROOT
from utils.training.hyps import REQUIRED, check_hyp, load_hyp

LOW = ROOT / "data/hyps/hyp.scratch-low.yaml"


def _hyp_file(tmp_path: Path, text: str) -> Path:
    """hyp.scratch-low.yaml with the keys of text replaced by text's lines (new keys added)."""
    keys = {y.split(":")[0] for y in text.splitlines()}
    lines = [x for x in LOW.read_text().splitlines() if x.split(":")[0] not in keys]
    f = tmp_path / "hyp.yaml"
    f.write_text("\n".join(lines + text.splitlines()) + "\n")
    return f


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "data/hyps").glob("*.yaml")))
def test_shipped_hyp_files_pass(name):
    hyp = load_hyp(ROOT / "data/hyps" / name)
    assert set(REQUIRED) <= set(hyp) and all(isinstance(v, float) for v in hyp.values())


def test_yaml_1_1_exponent_strings_are_numbers_with_a_warning(tmp_path, log_lines):
    f = _hyp_file(tmp_path, "weight_decay: 5e-4\nlr0: '0.01'")
    assert yaml.safe_load(f.read_text())["weight_decay"] == "5e-4"  # what PyYAML gives
    hyp = load_hyp(f)
    assert hyp["weight_decay"] == 5e-4 and hyp["lr0"] == 0.01
    assert any("weight_decay: '5e-4' is a string" in x and "used as the number 0.0005" in x for x in log_lines)


@pytest.mark.parametrize("text, message", [
    ("mosaic: 1.5", "mosaic: 1.5 is out of range, it must be a number in [0, 1]"),
    ("mosaic: -0.1", "mosaic: -0.1 is out of range"),
    ("mosaic: yes", "mosaic: True (bool) is not a number"),
    ("mosaic: often", "mosaic: 'often' is not a number"),
    ("mosaic:", "mosaic: nothing is not a number"),
    ("mosaic: [1, 2]", "mosaic: [1, 2] (list) is not a number"),
    ("lr0: .nan", "lr0: nan is out of range"),
    ("lr0: 'inf'", "lr0: inf is out of range"),
    ("lr0: -0.01", "lr0: -0.01 is out of range"),
    ("momentum: 1.0", "momentum: 1.0 is out of range, it must be a number in [0, 0.999]"),
    ("scale: 1.0", "scale: 1.0 is out of range"),
    ("shear: 90", "shear: 90 is out of range"),
    ("anchor_t: 0.5", "anchor_t: 0.5 is out of range, it must be a number >= 1"),
    ("fliplr: 2", "fliplr: 2 is out of range"),
    ("iou_t: 1.2", "iou_t: 1.2 is out of range"),
    ("anchors: 0", "anchors: 0 is out of range"),
    ("mixupp: 0.1", "unknown hyperparameter 'mixupp', did you mean 'mixup'?"),
    ("zzz: 1", "unknown hyperparameter 'zzz'; known keys are lr0"),
])
def test_bad_values_are_one_line_errors_naming_file_key_and_value(tmp_path, text, message):
    f = _hyp_file(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_hyp(f)
    assert str(e.value).startswith(f"{f}: {message}") and "\n" not in str(e.value), str(e.value)


def test_missing_key_names_it_and_a_likely_typo():
    hyp = load_hyp(LOW)
    hyp["mosiac"] = hyp.pop("mosaic")
    with pytest.raises(UserError, match=r"lacks the hyperparameter\(s\) mosaic \('mosiac' is not known: a typo\?\)"):
        check_hyp(hyp, "h.yaml")


def test_registered_add_on_keys_are_accepted_and_checked():
    import engine.distillation  # noqa: F401  registers dist_*

    hyp = load_hyp(LOW)
    assert check_hyp({**hyp, "dist_feat": 0.25})["dist_feat"] == 0.25
    with pytest.raises(UserError, match="dist_box: -1 is out of range"):
        check_hyp({**hyp, "dist_box": -1})
