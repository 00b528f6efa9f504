"""The Spark jobs (bronze, silver, gold) as EMR Serverless job runs: submit, cancel, list.

Every run this adapter starts is named `<prefix>-<job>` and tagged `project = wikiguard` plus
`wikiguard-job = <job>`; cancel and list act only on runs with both marks, on an application that
has them too. One active run per job at most: two streaming runs of a job would share a checkpoint.

The job run carries everything the job needs (see `docker/spark-jobs.md`): the entrypoint script and
the code zip in the artifacts bucket, the pinned jars (`SPARK_JARS`, kept equal to `jvm/pom.xml` by a
test), the Iceberg Glue catalog, a checkpoint location under the checkpoints bucket, and the
environment (`spark.emr-serverless.driverEnv.*` on the driver, `spark.executorEnv.*` on executors).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from wikiguard.adapters.aws import NAME_PREFIX, PROJECT_TAG, ForeignResourceError, aws_call, is_owned
from wikiguard.domain.errors import WikiguardError

logger = logging.getLogger(__name__)

JOBS = ("bronze", "silver", "gold")
JOB_TAG = "wikiguard-job"
ACTIVE_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

# The Spark add-ons resolved by `scripts/fetch-jvm.sh spark` from `jvm/pom.xml` (a test keeps the
# two equal). Not sqlite-jdbc: that one only serves the local JDBC catalog.
SPARK_JARS = (
    "iceberg-spark-runtime-3.5_2.12-1.12.0.jar",
    "iceberg-aws-bundle-1.12.0.jar",
    "spark-sql-kafka-0-10_2.12-3.5.7.jar",
    "spark-token-provider-kafka-0-10_2.12-3.5.7.jar",
    "kafka-clients-3.4.1.jar",
    "commons-pool2-2.11.1.jar",
    "deequ-2.0.7-spark-3.5.jar",
    "aws-msk-iam-auth-2.3.2.jar",
)


class JobSubmitError(WikiguardError):
    """A job run cannot be started as asked (unknown job, one already active, a bad parameter)."""


@attrs.frozen
class JobArtifacts:
    """Where a code version's files live in the artifacts bucket (layout of `docker/spark-jobs.md`)."""

    bucket: str
    version: str
    jars_prefix: str = "jars"
    jars: tuple[str, ...] = SPARK_JARS
    archives: tuple[str, ...] = ()  # extra `spark.archives` URIs (for example a packed virtualenv)

    @property
    def code_zip(self) -> str:
        return f"s3://{self.bucket}/wikiguard/{self.version}/wikiguard-{self.version}.zip"

    def entrypoint(self, job: str) -> str:
        return f"s3://{self.bucket}/wikiguard/{self.version}/spark_{job}.py"

    def jar_uris(self) -> tuple[str, ...]:
        prefix = self.jars_prefix.strip("/")
        return tuple(
            f"s3://{self.bucket}/{prefix}/{name}" if prefix else f"s3://{self.bucket}/{name}"
            for name in self.jars
        )

    def uris(self, job: str) -> tuple[str, ...]:
        """Every object a run of `job` reads at start (what `missing_artifacts` checks)."""
        return (self.entrypoint(job), self.code_zip, *self.jar_uris(), *self.archives)


@attrs.frozen
class JobRun:
    run_id: str
    name: str
    job: str | None
    state: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    details: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def missing_artifacts(s3: Any, uris: Sequence[str]) -> list[str]:
    """The `uris` that are not in S3 (HeadObject answers 404), in order."""
    missing = []
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except s3.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                with aws_call(f"checking {uri}"):
                    raise
            missing.append(uri)
    return missing


T = TypeVar("T")


def _needed(value: T | None, what: str) -> T:
    if value is None or value == "":
        raise JobSubmitError(f"{what} is not configured: it is needed to submit a job run")
    return value


class EmrServerlessJobs:
    """Submit, cancel and list WikiGuard's job runs on one EMR Serverless application.

    `client` is a boto3 `emr-serverless` client. `environment` is set on the driver and on every
    executor; `log_group` turns on CloudWatch logging per run (the application cannot set it).
    Listing and cancelling need only the application; submitting also needs the role, the artifacts
    and the checkpoints bucket.
    """

    def __init__(
        self,
        client: Any,
        application_id: str,
        role_arn: str | None = None,
        *,
        artifacts: JobArtifacts | None = None,
        warehouse: str = "",
        checkpoints_bucket: str | None = None,
        environment: Mapping[str, str] | None = None,
        log_group: str | None = None,
        timeout_minutes: int | None = None,
        prefix: str = NAME_PREFIX,
    ) -> None:
        self._client = client
        self.application_id = application_id
        self._role_arn = role_arn
        self._artifacts = artifacts
        self._warehouse = warehouse
        self._checkpoints_bucket = checkpoints_bucket
        self._environment = dict(environment or {})
        self._log_group = log_group
        self._timeout_minutes = timeout_minutes
        self._prefix = prefix
        self._application_checked = False

    # -- the request ---------------------------------------------------------------------------
    def run_name(self, job: str) -> str:
        return f"{self._prefix}-{job}"

    def checkpoint_location(self, job: str) -> str:
        return f"s3://{_needed(self._checkpoints_bucket, 'the checkpoints bucket')}/{job}"

    def artifact_uris(self, job: str) -> tuple[str, ...]:
        return _needed(self._artifacts, "the job artifacts").uris(job)

    def spark_conf(self, job: str) -> dict[str, str]:
        """The Spark properties of a run of `job` (passed as `--conf k=v`)."""
        artifacts = _needed(self._artifacts, "the job artifacts")
        conf = {
            "spark.submit.pyFiles": artifacts.code_zip,
            "spark.jars": ",".join(artifacts.jar_uris()),
            "spark.sql.extensions": ICEBERG_EXTENSIONS,
            "spark.sql.session.timeZone": "UTC",
        }
        if artifacts.archives:
            conf["spark.archives"] = ",".join(artifacts.archives)
        # imported here: the catalog module pulls in pyiceberg, which `wikiguard --help` need not load
        from wikiguard.adapters.spark.catalog import IcebergCatalog

        conf |= IcebergCatalog("wikiguard", "glue", self._warehouse.rstrip("/")).conf()
        # the job modules read their checkpoint from here (wikiguard/entrypoints/spark_job.py)
        environment = self._environment | {"WIKIGUARD_SPARK_CHECKPOINT": self.checkpoint_location(job)}
        for name, value in sorted(environment.items()):
            conf[f"spark.emr-serverless.driverEnv.{name}"] = value
            conf[f"spark.executorEnv.{name}"] = value
        return conf

    def start_job_run_request(self, job: str, arguments: Sequence[str] = ()) -> dict[str, Any]:
        """The StartJobRun parameters for `job` (pure: no call is made)."""
        if job not in JOBS:
            raise JobSubmitError(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
        parameters = []
        for key, value in self.spark_conf(job).items():
            # sparkSubmitParameters is split on whitespace: a value with a space would be cut in two
            if not value or any(c.isspace() for c in key + value):
                raise JobSubmitError(
                    f"Spark property {key} has an empty value or one with whitespace: {value!r}"
                )
            parameters.append(f"--conf {key}={value}")
        driver: dict[str, Any] = {
            "entryPoint": _needed(self._artifacts, "the job artifacts").entrypoint(job),
            "entryPointArguments": list(arguments),
            "sparkSubmitParameters": " ".join(parameters),
        }
        request: dict[str, Any] = {
            "applicationId": self.application_id,
            "executionRoleArn": _needed(self._role_arn, "the job role"),
            "name": self.run_name(job),
            "jobDriver": {"sparkSubmit": driver},
            "tags": {PROJECT_TAG[0]: PROJECT_TAG[1], JOB_TAG: job},
        }
        if self._log_group:
            request["configurationOverrides"] = {
                "monitoringConfiguration": {
                    "cloudWatchLoggingConfiguration": {
                        "enabled": True,
                        "logGroupName": self._log_group,
                        "logStreamNamePrefix": job,
                    }
                }
            }
        if self._timeout_minutes is not None:
            request["executionTimeoutMinutes"] = self._timeout_minutes
        return request

    # -- calls ---------------------------------------------------------------------------------
    def check_application(self) -> None:
        """Refuse an application that is not WikiGuard's (checked once per instance)."""
        if self._application_checked:
            return
        with aws_call(f"reading EMR Serverless application {self.application_id}"):
            application = self._client.get_application(applicationId=self.application_id)["application"]
        if not is_owned(application.get("name"), application.get("tags"), self._prefix):
            raise ForeignResourceError(
                f"EMR Serverless application {self.application_id} ({application.get('name')!r}) is not "
                f"WikiGuard's: it needs a name starting with {self._prefix!r} and the tag "
                f"{PROJECT_TAG[0]}={PROJECT_TAG[1]}; nothing was submitted or cancelled"
            )
        self._application_checked = True

    def submit(self, job: str, arguments: Sequence[str] = ()) -> JobRun:
        """Start a run of `job`; refuses while one of ours is still active."""
        request = self.start_job_run_request(job, arguments)
        self.check_application()
        running = [r for r in self.runs(active_only=True) if r.job == job]
        if running:
            raise JobSubmitError(
                f"{job}: run {running[0].run_id} is still {running[0].state}; two runs would share the "
                f"checkpoint {self.checkpoint_location(job)}. Cancel it first (wikiguard jobs cancel {job})"
            )
        with aws_call(f"starting the {job} job run"):
            answer = self._client.start_job_run(**request)
        logger.info("submitted %s: job run %s", request["name"], answer["jobRunId"])
        return JobRun(answer["jobRunId"], request["name"], job, "SUBMITTED")

    def cancel(self, job: str | None = None) -> list[JobRun]:
        """Cancel our active runs of `job` (None: of every job); returns what was cancelled."""
        if job is not None and job not in JOBS:
            raise JobSubmitError(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
        self.check_application()
        cancelled = []
        for run in self.runs(active_only=True):
            if job is not None and run.job != job:
                continue
            with aws_call(f"cancelling job run {run.run_id}"):
                self._client.cancel_job_run(applicationId=self.application_id, jobRunId=run.run_id)
            logger.info("cancelled %s: job run %s", run.name, run.run_id)
            cancelled.append(attrs.evolve(run, state="CANCELLING"))
        return cancelled

    def runs(self, *, active_only: bool = False, limit: int = 50) -> list[JobRun]:
        """Our job runs, newest first: named `<prefix>-<job>` and tagged as ours (checked per run)."""
        self.check_application()
        names = {self.run_name(job): job for job in JOBS}
        params: dict[str, Any] = {"applicationId": self.application_id}
        if active_only:
            params["states"] = list(ACTIVE_STATES)
        found: list[JobRun] = []
        with aws_call(f"listing job runs of {self.application_id}"):
            for page in self._client.get_paginator("list_job_runs").paginate(**params):
                for summary in page.get("jobRuns", []):
                    if summary.get("name") not in names:
                        continue  # not ours by name: not even read
                    run = self._owned_run(summary["id"], names)
                    if run is not None and (run.active or not active_only):
                        found.append(run)
                if len(found) >= limit:
                    break
        found.sort(key=lambda r: r.created_at.timestamp() if r.created_at else float("-inf"), reverse=True)
        return found[:limit]

    def _owned_run(self, run_id: str, names: Mapping[str, str]) -> JobRun | None:
        # ListJobRuns has no tags: GetJobRun tells a run of ours from a foreign one with our name.
        run = self._client.get_job_run(applicationId=self.application_id, jobRunId=run_id)["jobRun"]
        if not is_owned(run.get("name"), run.get("tags"), self._prefix):
            logger.debug("job run %s is named like ours but not tagged as ours; left alone", run_id)
            return None
        return JobRun(
            run_id=run["jobRunId"],
            name=run["name"],
            job=names.get(run["name"]),
            state=run["state"],
            created_at=run.get("createdAt"),
            updated_at=run.get("updatedAt"),
            details=run.get("stateDetails") or "",
        )
