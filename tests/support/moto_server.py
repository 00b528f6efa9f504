"""A moto server on a loopback port for the AWS adapters' tests, and clients pointed at it.

Credentials and region go to the boto3 session explicitly, so no test changes the environment.
Tests should use fresh resource names (`unique`) instead of resetting the shared server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@contextmanager
def running_moto() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port; yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str, *, max_attempts: int = 1) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts})
    return session.client(service, endpoint_url=endpoint, config=config)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Import into a test module (or list this module in `pytest_plugins`) to use it."""
    with running_moto() as endpoint:
        yield endpoint
