"""The collector pause around the embedded pipeline's batches."""

from __future__ import annotations

import gc
import weakref

from wikiguard.application.pipeline import collector_paused


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector can free it


def test_paused_inside_restored_after_and_cycles_collected_between_batches() -> None:
    assert gc.isenabled()
    with collector_paused() as between_batches:
        assert not gc.isenabled()
        cycle = _Node()
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None  # not collected while paused
        between_batches()
        assert gone() is None
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off_and_is_never_run() -> None:
    gc.disable()
    try:
        with collector_paused() as between_batches:
            cycle = _Node()
            gone = weakref.ref(cycle)
            del cycle
            between_batches()
            assert gone() is not None
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.collect()
