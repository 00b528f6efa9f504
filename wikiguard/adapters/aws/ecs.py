"""The ingest's ECS service: its status, and scaling it between 0 and 1 task.

The service name comes from configuration and is checked before every change: it must start with
the project's prefix and carry the tag `project = wikiguard`. One task at most: two ingest tasks
would publish every event twice.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from wikiguard.adapters.aws import (
    NAME_PREFIX,
    PROJECT_TAG,
    AwsControlError,
    ForeignResourceError,
    aws_call,
    is_owned,
)
from wikiguard.domain.errors import WikiguardError

logger = logging.getLogger(__name__)


class IngestScaleError(WikiguardError):
    """A task count the ingest service must not run with (negative, or more than one)."""


@attrs.frozen
class ServiceStatus:
    cluster: str
    service: str
    status: str  # ACTIVE, DRAINING, INACTIVE
    desired: int
    running: int
    pending: int
    rollout: str = ""  # of the primary deployment: IN_PROGRESS, COMPLETED, FAILED
    task_definition: str = ""


class EcsIngestService:
    """One ECS service of one cluster (`client` is a boto3 `ecs` client)."""

    def __init__(
        self, client: Any, cluster: str, service: str, *, max_count: int = 1, prefix: str = NAME_PREFIX
    ) -> None:
        self._client = client
        self.cluster = cluster
        self.service = service
        self._max_count = max_count
        self._prefix = prefix

    def _describe(self) -> dict[str, Any]:
        with aws_call(f"describing ECS service {self.service} in cluster {self.cluster}"):
            answer = self._client.describe_services(
                cluster=self.cluster, services=[self.service], include=["TAGS"]
            )
        services = [s for s in answer.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            reasons = ", ".join(f.get("reason", "?") for f in answer.get("failures", [])) or "INACTIVE"
            raise AwsControlError(f"ECS service {self.service} in cluster {self.cluster}: {reasons}")
        service: dict[str, Any] = services[0]
        return service

    def _check_owned(self, service: dict[str, Any]) -> None:
        tags = {t["key"]: t["value"] for t in service.get("tags", []) if "key" in t}
        if not is_owned(service.get("serviceName"), tags, self._prefix):
            raise ForeignResourceError(
                f"ECS service {service.get('serviceName')!r} in cluster {self.cluster} is not WikiGuard's: it "
                f"needs a name starting with {self._prefix!r} and the tag {PROJECT_TAG[0]}={PROJECT_TAG[1]}; "
                "left unchanged"
            )

    def status(self) -> ServiceStatus:
        service = self._describe()
        self._check_owned(service)
        return _status(self.cluster, service)

    def scale(self, count: int) -> ServiceStatus:
        """Set the desired task count to `count` (0 stops the ingest, 1 runs it)."""
        if not 0 <= count <= self._max_count:
            raise IngestScaleError(
                f"the ingest service runs 0 or {self._max_count} task(s), not {count}: "
                "two ingest tasks would publish every event twice"
            )
        service = self._describe()
        self._check_owned(service)
        with aws_call(f"scaling ECS service {self.service} to {count}"):
            answer = self._client.update_service(
                cluster=self.cluster, service=service["serviceArn"], desiredCount=count
            )
        logger.info(
            "ECS service %s: desired count %d -> %d", self.service, service.get("desiredCount", 0), count
        )
        return _status(self.cluster, answer["service"])


def _status(cluster: str, service: dict[str, Any]) -> ServiceStatus:
    deployments = service.get("deployments") or []
    primary = next(
        (d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else {}
    )
    return ServiceStatus(
        cluster=cluster,
        service=service["serviceName"],
        status=service.get("status", ""),
        desired=int(service.get("desiredCount", 0)),
        running=int(service.get("runningCount", 0)),
        pending=int(service.get("pendingCount", 0)),
        rollout=primary.get("rolloutState", ""),
        task_definition=str(service.get("taskDefinition", "")).rsplit("/", 1)[-1],
    )
