"""--evolve: mutation stays within limits and changes something; evolve.csv and hyp_evolve.yaml record the best."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from utils.errors import UserError
from utils.files import ROOT
from utils.training.evolve import (HYP_LIMITS, RESULT_KEYS, constrain, evolvable, history, load_population, mutate,
                                   record_generation)


def _hyp() -> dict:
    return yaml.safe_load((ROOT / "data/hyps/hyp.scratch-low.yaml").read_text())


def test_anchors_are_evolved_only_with_autoanchor():
    hyp, limits = evolvable(_hyp(), noautoanchor=False)
    assert hyp["anchors"] == 3 and "anchors" in limits
    hyp, limits = evolvable(_hyp(), noautoanchor=True)
    assert "anchors" not in hyp and "anchors" not in limits


def test_constrain_clips_and_rounds():
    out = constrain({"lr0": 5.0, "momentum": 0.1, "scale": 0.1234567, "other": 7}, HYP_LIMITS)
    assert out == {"lr0": 0.1, "momentum": 0.6, "scale": 0.12346, "other": 7}


def test_first_generation_is_the_base_hyp(tmp_path):
    hyp, limits = evolvable(_hyp(), noautoanchor=False)
    assert mutate(hyp, limits, None) == constrain(hyp, limits)


def test_generations_are_recorded_and_bred_from(tmp_path):
    hyp, limits = evolvable(_hyp(), noautoanchor=False)
    record_generation((0.5, 0.4, 0.30, 0.10, 0.1, 0.2, 0.3), hyp, tmp_path)
    better = dict(hyp, lr0=0.02)
    record_generation((0.6, 0.5, 0.40, 0.20, 0.1, 0.2, 0.3), better, tmp_path)
    data = history(tmp_path / "evolve.csv")
    assert list(data.columns) == [*RESULT_KEYS, *hyp]
    assert len(data) == 2
    text = (tmp_path / "hyp_evolve.yaml").read_text()
    assert "# Best generation: 1" in text and "# Last generation: 1" in text
    assert yaml.safe_load(text)["lr0"] == 0.02
    child = mutate(hyp, limits, data, seed=0)
    assert child == mutate(hyp, limits, data, seed=0)
    assert child not in (constrain(hyp, limits), constrain(better, limits))
    for k, (gain, low, high) in limits.items():
        assert low <= child[k] <= high
        if gain == 0:  # fixed hyps are copied from a parent unchanged
            assert child[k] in (hyp[k], better[k])
    assert np.isfinite(list(child.values())).all()


def test_population_from_folder_or_resume_file_like_yolov5(tmp_path):
    hyp = {"lr0": 0.01, "momentum": 0.937, "mosaic": 1.0}
    folder = tmp_path / "hyps"
    folder.mkdir()
    (folder / "a.yaml").write_text("lr0: 0.01\nmomentum: 0.937\nmosaic: 1.0\n")  # hyp itself: generation 1 trains it
    (folder / "b.yaml").write_text("lr0: 0.02\nmosaic: 0.5\nunknown_key: 3\n")
    (folder / "c.yaml").write_text("lr0: 0.02\nmosaic: 0.5\n")  # the same member again
    assert load_population(hyp, None, folder) == [{"lr0": 0.02, "momentum": 0.937, "mosaic": 0.5}]
    resume = tmp_path / "population.yaml"
    resume.write_text("gen1: {lr0: 0.03}\ngen2: {momentum: 0.9}\n")
    assert load_population(hyp, str(resume), folder) == [{**hyp, "lr0": 0.03}, {**hyp, "momentum": 0.9}]
    with pytest.raises(UserError, match="--resume_evolve"):
        load_population(hyp, str(tmp_path / "missing.yaml"), folder)
    with pytest.raises(UserError, match="--evolve_population"):
        load_population(hyp, None, tmp_path / "nowhere")
