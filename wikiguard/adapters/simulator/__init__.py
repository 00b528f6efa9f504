"""Simulated and replayed `recentchange` traffic for tests, demos and benchmarks."""

from wikiguard.adapters.simulator.replay import RecordedRepeatChangeSource, recorded_repeat
from wikiguard.adapters.simulator.scenarios import KINDS, Scenario
from wikiguard.adapters.simulator.source import SimulatedChangeSource, SimulatorStats, TrafficMix

__all__ = [
    "KINDS",
    "RecordedRepeatChangeSource",
    "Scenario",
    "SimulatedChangeSource",
    "SimulatorStats",
    "TrafficMix",
    "recorded_repeat",
]
