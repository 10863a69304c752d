"""The three stages every inference loop times (val and predict, each task): pre-process, inference, and NMS or
post-process, summed over a run and reported per image in YOLOv5's 'Speed:' line."""

from __future__ import annotations

from utils.torch_utils import time_sync


class Stages:
    """`start()` before a batch, `end(stage)` after each stage: the time since the previous mark goes to that stage."""

    NAMES = ("pre-process", "inference", "NMS")

    def __init__(self):
        self.seconds = [0.0, 0.0, 0.0]
        self.last = [0.0, 0.0, 0.0]  # the latest batch's seconds per stage (predict's per-image line)
        self._mark = 0.0

    def start(self) -> None:
        self._mark = time_sync()

    def end(self, stage: int) -> None:
        now = time_sync()
        self.last[stage] = now - self._mark
        self.seconds[stage] += self.last[stage]
        self._mark = now

    def per_image(self, n: int) -> tuple[float, float, float]:
        """Milliseconds per image of each stage over n images."""
        return tuple(s / max(n, 1) * 1e3 for s in self.seconds)
