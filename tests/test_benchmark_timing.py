"""tools/benchmarks/timing.py: turn-taking medians, peak-RSS bookkeeping and fresh-process jobs."""

from __future__ import annotations

import os
import time

import numpy as np

from tools.benchmarks.timing import in_fresh_process, machine_summary, measure, peak_rss, reset_peak_rss


def test_measure_takes_turns_and_drops_warmup():
    calls = []
    t = measure({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3, warmup=1)
    assert "".join(calls) == "abbaabba" and set(t) == {"a", "b"}


def test_measure_tells_slow_from_fast():
    t = measure({"slow": lambda: time.sleep(0.02), "fast": lambda: None}, runs=3)
    assert t["slow"] >= 0.02 > t["fast"]


def test_peak_rss_sees_a_temporary_allocation():
    before = reset_peak_rss()
    a = np.ones(25_000_000)  # 200 MB, touched
    del a
    assert peak_rss() - before > 150


def test_in_fresh_process_runs_elsewhere():
    assert in_fresh_process(os.getpid) != os.getpid()


def test_machine_summary_names_threads_and_load():
    s = machine_summary(2)
    assert "with 2 threads" in s and "load average" in s
