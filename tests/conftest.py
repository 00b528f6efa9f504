"""Shared test configuration: where the recorded data lives (beside the project, never copied into it)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECORDINGS = SHARED_DATA / "wikimedia"


@pytest.fixture(scope="session")
def recordings() -> Path:
    assert RECORDINGS.is_dir(), f"recorded events not found at {RECORDINGS}"
    return RECORDINGS
