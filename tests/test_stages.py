"""utils/inference/stages.py: the pre-process / inference / NMS times of every loop, per image."""

from __future__ import annotations

import itertools

from utils.inference import stages as stages_module
from utils.inference.stages import Stages


def test_each_mark_charges_the_time_since_the_previous_one_to_its_stage(monkeypatch):
    clock = itertools.accumulate([10.0, 0.5, 2.0, 0.25] * 2)  # start, +pre-process, +inference, +NMS; twice
    monkeypatch.setattr(stages_module, "time_sync", lambda: next(clock))
    s = Stages()
    for _ in range(2):
        s.start()
        s.end(0)
        s.end(1)
        s.end(2)
    assert s.last == [0.5, 2.0, 0.25]
    assert s.seconds == [1.0, 4.0, 0.5]  # the 10 s between one batch's NMS and the next start count nowhere
    assert s.per_image(4) == tuple(x / 4 * 1e3 for x in s.seconds) and Stages().per_image(0) == (0.0, 0.0, 0.0)
