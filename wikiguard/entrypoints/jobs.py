"""`wikiguard jobs ...`, `wikiguard ingest-service ...` and `wikiguard status`: operating the AWS shape.

Configuration comes from `Settings` (environment variables named after the Terraform outputs, see
docs/operations-aws.md). Only WikiGuard's own resources are touched (`wikiguard.adapters.aws`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
from datetime import UTC, datetime
from typing import Any

import attrs
import boto3

from wikiguard.adapters.aws.ecs import EcsIngestService
from wikiguard.adapters.aws.emr_serverless import (
    JOBS,
    EmrServerlessJobs,
    JobArtifacts,
    JobRun,
    JobSubmitError,
    missing_artifacts,
)
from wikiguard.entrypoints.arguments import add_warehouse, positive_int, settings_for
from wikiguard.entrypoints.settings import Settings, SettingsError

logger = logging.getLogger("wikiguard.jobs")


def register(subparsers: Any) -> None:
    """Add the `jobs`, `ingest-service` and `status` commands to the `wikiguard` parser."""
    jobs = subparsers.add_parser("jobs", help="submit, cancel and watch the Spark jobs on EMR Serverless")
    verbs = jobs.add_subparsers(dest="jobs_command", required=True)
    submit = verbs.add_parser("submit", help="start job runs (one active run per job at most)")
    submit.add_argument("job", choices=(*JOBS, "all"))
    submit.add_argument(
        "--arg", action="append", default=[], metavar="ARG", help="an entrypoint argument (repeatable)"
    )
    submit.add_argument(
        "--skip-artifact-check", action="store_true", help="do not check the artifacts exist in S3"
    )
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(handler=submit_jobs)
    cancel = verbs.add_parser("cancel", help="cancel WikiGuard's active job runs (and nothing else)")
    cancel.add_argument("job", choices=(*JOBS, "all"))
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=cancel_jobs)
    status = verbs.add_parser("status", help="WikiGuard's recent job runs, newest first")
    status.add_argument("--limit", type=positive_int, default=10)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=jobs_status)

    ingest = subparsers.add_parser("ingest-service", help="the ECS ingest service")
    ingest_verbs = ingest.add_subparsers(dest="ingest_command", required=True)
    scale = ingest_verbs.add_parser("scale", help="set the desired task count: 0 (stop) or 1 (run)")
    scale.add_argument("count", type=int)
    scale.add_argument("--json", action="store_true")
    scale.set_defaults(handler=scale_ingest)

    overall = subparsers.add_parser(
        "status", help="pipeline status: job runs, ingest service, last commit and checkpoints of each table"
    )
    add_warehouse(overall)
    overall.add_argument("--json", action="store_true")
    overall.set_defaults(handler=pipeline_status)


# -- wiring --------------------------------------------------------------------------------------
def _client(service: str, settings: Settings) -> Any:
    # the stubs type each service name as a Literal; here it is a runtime string
    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)  # type: ignore[call-overload]


def _require(settings: Settings, *fields: str) -> None:
    missing = [f"WIKIGUARD_{f.upper()}" for f in fields if not getattr(settings, f)]
    if missing:
        raise SettingsError(f"set {', '.join(missing)} (Terraform outputs; see docs/operations-aws.md)")


def job_environment(settings: Settings) -> dict[str, str]:
    """The environment of every job run: catalog, Kafka, alert sinks. Never a secret's value."""
    if settings.s3_warehouse is None:
        raise SettingsError(
            "the Spark jobs write to Glue: set WIKIGUARD_S3_WAREHOUSE=s3://<warehouse_bucket>/"
        )
    env = {
        "WIKIGUARD_CATALOG": "glue",
        "WIKIGUARD_S3_WAREHOUSE": settings.s3_warehouse,
        "AWS_REGION": settings.aws_region,
        "WIKIGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WIKIGUARD_KAFKA_SECURITY": settings.kafka_security,
        "WIKIGUARD_KAFKA_TOPIC": settings.kafka_topic,
        "WIKIGUARD_KAFKA_DLQ_TOPIC": settings.kafka_dlq_topic,
        "WIKIGUARD_ALERT_THROTTLE_SECONDS": str(int(settings.alert_throttle.total_seconds())),
        "WIKIGUARD_ALLOWED_LATENESS_SECONDS": str(int(settings.allowed_lateness.total_seconds())),
        "WIKIGUARD_DEDUP_HORIZON_SECONDS": str(int(settings.dedup_horizon.total_seconds())),
    }
    if settings.sns_topic_arn:
        env["WIKIGUARD_SNS_TOPIC_ARN"] = settings.sns_topic_arn
    if settings.slack_secret_id:
        env["WIKIGUARD_SLACK_SECRET_ID"] = settings.slack_secret_id
    elif settings.slack_webhook_url:
        # Job parameters are readable by anyone who may list job runs: a webhook URL is a secret.
        logger.warning("WIKIGUARD_SLACK_WEBHOOK_URL is not passed to job runs; set WIKIGUARD_SLACK_SECRET_ID")
    if settings.kafka_bootstrap.startswith(("127.", "localhost")):
        raise SettingsError("set WIKIGUARD_KAFKA_BOOTSTRAP to the MSK brokers (msk_bootstrap_brokers_iam)")
    return env


def emr_jobs(settings: Settings, *, submitting: bool = False) -> EmrServerlessJobs:
    """The job control; `submitting` also needs (and checks) what a job run is given. Listing and
    cancelling need only the application id."""
    _require(settings, "emr_application_id")
    assert settings.emr_application_id  # for mypy: checked just above
    if not submitting:
        return EmrServerlessJobs(_client("emr-serverless", settings), settings.emr_application_id)
    _require(settings, "emr_job_role_arn", "artifacts_bucket", "checkpoints_bucket")
    assert settings.emr_job_role_arn and settings.artifacts_bucket and settings.checkpoints_bucket
    version = settings.code_version or importlib.metadata.version("wikiguard")
    return EmrServerlessJobs(
        _client("emr-serverless", settings),
        settings.emr_application_id,
        settings.emr_job_role_arn,
        artifacts=JobArtifacts(settings.artifacts_bucket, version, settings.jars_prefix),
        warehouse=settings.s3_warehouse or "",
        checkpoints_bucket=settings.checkpoints_bucket,
        environment=job_environment(settings),
        log_group=settings.emr_log_group,
    )


def ingest_service(settings: Settings) -> EcsIngestService:
    _require(settings, "ecs_cluster_name", "ecs_service_name")
    assert settings.ecs_cluster_name and settings.ecs_service_name
    return EcsIngestService(_client("ecs", settings), settings.ecs_cluster_name, settings.ecs_service_name)


def _jobs_of(choice: str) -> tuple[str, ...]:
    return JOBS if choice == "all" else (choice,)


def _print(args: argparse.Namespace, document: Any, text: str) -> None:
    print(json.dumps(document, indent=2, default=str) if args.json else text)


def _run_dict(run: JobRun) -> dict[str, Any]:
    return attrs.asdict(run)


def _run_line(run: JobRun) -> str:
    created = f"{run.created_at:%Y-%m-%d %H:%M}" if run.created_at else "-"
    return f"  {run.job or '?':6} {run.run_id:24} {run.state:10} created {created} {run.details}".rstrip()


# -- handlers ------------------------------------------------------------------------------------
def submit_jobs(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    jobs = emr_jobs(settings, submitting=True)
    wanted = _jobs_of(args.job)
    requests = [jobs.start_job_run_request(job, args.arg) for job in wanted]  # bad parameters fail here
    jobs.check_application()
    active = [r for r in jobs.runs(active_only=True) if r.job in wanted]
    if active:
        listed = ", ".join(f"{r.job} ({r.run_id}, {r.state})" for r in active)
        raise JobSubmitError(
            f"still active: {listed}; cancel first (wikiguard jobs cancel ...). Nothing submitted"
        )
    if not args.skip_artifact_check:
        s3 = _client("s3", settings)
        missing = missing_artifacts(s3, sorted({u for job in wanted for u in jobs.artifact_uris(job)}))
        if missing:
            raise JobSubmitError("artifacts missing in S3 (docker/spark-jobs.md): " + ", ".join(missing))
    runs = [jobs.submit(job, args.arg) for job in wanted]
    _print(
        args,
        {"submitted": [_run_dict(r) for r in runs], "requests": requests},
        "\n".join(["submitted:", *(_run_line(r) for r in runs)]),
    )
    return 0


def cancel_jobs(args: argparse.Namespace) -> int:
    jobs = emr_jobs(Settings.from_env())
    cancelled = jobs.cancel(None if args.job == "all" else args.job)
    text = (
        "\n".join(["cancelled:", *(_run_line(r) for r in cancelled)])
        if cancelled
        else "no active WikiGuard job run"
    )
    _print(args, {"cancelled": [_run_dict(r) for r in cancelled]}, text)
    return 0


def jobs_status(args: argparse.Namespace) -> int:
    runs = emr_jobs(Settings.from_env()).runs(limit=args.limit)
    _print(args, {"job_runs": [_run_dict(r) for r in runs]}, "\n".join(["job runs:", *map(_run_line, runs)]))
    return 0


def scale_ingest(args: argparse.Namespace) -> int:
    status = ingest_service(Settings.from_env()).scale(args.count)
    _print(
        args, attrs.asdict(status), f"{status.service}: desired {status.desired}, running {status.running}"
    )
    return 0


def table_status(settings: Settings) -> list[dict[str, Any]]:
    """Per table: the last commit's time and operation, and every checkpoint it carries."""
    from pyiceberg.exceptions import NoSuchTableError

    from wikiguard.adapters.iceberg.snapshots import checkpoints_of
    from wikiguard.application.tables import ALL_TABLES, NAMESPACE
    from wikiguard.entrypoints.containers import make_catalog

    catalog = make_catalog(settings, create=False)
    out: list[dict[str, Any]] = []
    for spec in ALL_TABLES:
        try:
            table = catalog.load_table((NAMESPACE, spec.name))
        except NoSuchTableError:
            out.append({"table": spec.name, "exists": False})
            continue
        snapshot = table.current_snapshot()
        committed = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC) if snapshot else None
        out.append({
            "table": spec.name,
            "exists": True,
            "last_commit": committed,
            "snapshots": len(table.metadata.snapshots),
            "checkpoints": checkpoints_of(table) if snapshot else {},
        })  # fmt: skip
    return out


def pipeline_status(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    document: dict[str, Any] = {"tables": table_status(settings)}
    lines = [f"tables ({settings.s3_warehouse if settings.catalog == 'glue' else settings.warehouse}):"]
    for t in document["tables"]:
        if not t["exists"]:
            lines.append(f"  {t['table']:28} not created")
            continue
        when = f"{t['last_commit']:%Y-%m-%d %H:%M:%S} UTC" if t["last_commit"] else "no commit yet"
        marks = ", ".join(
            f"{k}={v if len(v) <= 60 else v[:57] + '...'}" for k, v in sorted(t["checkpoints"].items())
        )
        lines.append(f"  {t['table']:28} last commit {when}  {marks}".rstrip())
    if settings.emr_application_id:
        runs = emr_jobs(settings).runs(limit=10)
        document["job_runs"] = [_run_dict(r) for r in runs]
        lines += ["job runs:", *(map(_run_line, runs) if runs else ["  none"])]
    if settings.ecs_cluster_name and settings.ecs_service_name:
        ingest = ingest_service(settings).status()
        document["ingest_service"] = attrs.asdict(ingest)
        lines.append(
            f"ingest service {ingest.service}: {ingest.status}, desired {ingest.desired}, running {ingest.running}, "
            f"pending {ingest.pending}{', rollout ' + ingest.rollout if ingest.rollout else ''}"
        )
    _print(args, document, "\n".join(lines))
    return 0
