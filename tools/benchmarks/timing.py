"""Fair timings and peak memory for the benchmarks: comparisons take turns, memory is read per fresh process."""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import statistics
import time
from typing import Callable

import torch

from utils.torch_utils import time_sync


def measure(fns: dict[str, Callable[[], object]], runs: int, warmup: int = 1, clock: str = "wall") -> dict[str, float]:
    """Median seconds per call of each function; they run in turns, the order reversed every round, so that a change
    in machine load hits every side alike. `clock='cpu'` counts this process's CPU time (all threads) instead."""
    now = time_sync if clock == "wall" else time.process_time
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(warmup + runs):
        for k in names if r % 2 == 0 else names[::-1]:
            t = now()
            fns[k]()
            if r >= warmup:
                times[k].append(now() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def machine_summary(threads: int) -> str:
    """One line naming the CPU, the thread count and the load on the machine when the figures were taken."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} with {threads} threads, "
            f"load average {load}")


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MB, from /proc; ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> float:
    """Restart the peak-RSS count of this process where Linux allows it; returns the RSS now (MB)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # other kernels: the peak then also covers start-up, which only makes the reported figure larger
    return _rss_mb("VmRSS")


def peak_rss() -> float:
    """Peak RSS of this process in MB since start-up or the last reset_peak_rss()."""
    return _rss_mb("VmHWM")


def in_fresh_process(job: Callable, *args):
    """job(*args) run in a newly spawned Python process, so that its peak memory is its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(job, args)
