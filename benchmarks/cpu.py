"""Benchmarks measure what one core does: pin the process, and pyarrow's thread pools, to one CPU;
and time each step by the least CPU time over a few rounds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa


def one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def rounds(runs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """The least CPU seconds of each run over `repeat` rounds."""
    least = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.process_time()
            run()
            least[name] = min(least[name], time.process_time() - started)
    return least
