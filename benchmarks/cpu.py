"""Benchmarks measure what one core does: pin the process, and pyarrow's thread pools, to one CPU."""

from __future__ import annotations

import os

import pyarrow as pa


def one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
