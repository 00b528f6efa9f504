"""Reusable pytest fixtures and helpers for a real local Kafka broker (KRaft).

The broker is the one run by ``scripts/kafka.sh`` from the jars in ``jvm/lib/kafka``
(``scripts/fetch-jvm.sh``). Import what you need in ``tests/integration/conftest.py``::

    from tests.integration.fixtures_kafka import kafka_broker, kafka_restart  # noqa: F401

A missing component (no jars, no java, broker that does not come up) FAILS the test
that needs it; nothing here skips.

Environment:
    WIKIGUARD_KAFKA_BOOTSTRAP  reuse a broker already listening there (no start/stop)
    WIKIGUARD_KAFKA_PORT       port for the broker started by kafka.sh (19092)
    WIKIGUARD_KAFKA_KEEP=1     leave a broker this fixture started running at the end
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "scripts" / "kafka.sh"
DEFAULT_PORT = 19092

# set by the kafka_broker fixture
_state: dict[str, object] = {"bootstrap": None, "started_here": False}


def default_bootstrap() -> str:
    return f"127.0.0.1:{os.environ.get('WIKIGUARD_KAFKA_PORT', DEFAULT_PORT)}"


def kafka_sh(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run scripts/kafka.sh with ``args``; output captured, never raises on exit code."""
    return subprocess.run(
        ["bash", str(KAFKA_SH), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _run_or_fail(*args: str) -> str:
    res = kafka_sh(*args)
    if res.returncode != 0:
        pytest.fail(
            f"scripts/kafka.sh {' '.join(args)} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}",
            pytrace=False,
        )
    return res.stdout


def broker_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": 3000})
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(md.brokers)


def start_kafka_broker() -> str:
    """``kafka.sh start`` + ``wait``; returns the bootstrap string. Fails the test on error."""
    _run_or_fail("start")
    _run_or_fail("wait")
    return default_bootstrap()


def stop_kafka_broker() -> None:
    """``kafka.sh stop`` (SIGTERM, then SIGKILL after a timeout). Data is kept."""
    _run_or_fail("stop")


def restart_kafka_broker() -> float:
    """Stop and start the broker managed by scripts/kafka.sh, wait until it answers.

    Returns the seconds the whole restart took. The data dir is reused, so topics,
    messages and committed offsets survive.
    """
    bootstrap = _state["bootstrap"] or default_bootstrap()
    if not _state["started_here"] and kafka_sh("status").returncode != 0:
        raise RuntimeError(f"the broker at {bootstrap} is not managed by scripts/kafka.sh; cannot restart it")
    t0 = time.monotonic()
    stop_kafka_broker()
    start_kafka_broker()
    return time.monotonic() - t0


def create_topic(bootstrap: str, name: str, partitions: int = 3, timeout: float = 30.0) -> None:
    """Create ``name`` (replication factor 1) and wait until it is in the metadata."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout)
    for fut in futures.values():
        fut.result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=5)
        tmd = md.topics.get(name)
        if tmd is not None and tmd.error is None and len(tmd.partitions) == partitions:
            return
        time.sleep(0.2)
    raise TimeoutError(f"topic {name} did not show up in metadata within {timeout}s")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """Bootstrap string (``127.0.0.1:19092``) of a running single-node KRaft broker.

    Reuses a broker already listening at ``$WIKIGUARD_KAFKA_BOOTSTRAP`` or one that
    scripts/kafka.sh already runs; otherwise starts one and stops it at the end.
    """
    external = os.environ.get("WIKIGUARD_KAFKA_BOOTSTRAP")
    if external and broker_answers(external):
        _state.update(bootstrap=external, started_here=False)
        yield external
        return

    already = kafka_sh("status").returncode == 0
    bootstrap = start_kafka_broker()
    _state.update(bootstrap=bootstrap, started_here=not already)
    try:
        yield bootstrap
    finally:
        if _state["started_here"] and os.environ.get("WIKIGUARD_KAFKA_KEEP") != "1":
            kafka_sh("stop")


@pytest.fixture(scope="session")
def kafka_restart(kafka_broker: str) -> Callable[[], float]:
    """The restart helper: call it to stop+start+wait the broker mid-test."""
    return restart_kafka_broker
