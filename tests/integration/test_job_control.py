"""`wikiguard jobs|ingest-service|status` against a moto server: WikiGuard's resources only.

moto implements every call used here (EMR Serverless GetApplication, StartJobRun, GetJobRun,
ListJobRuns, CancelJobRun; ECS DescribeServices with tags, UpdateService), so no Stubber is needed.
moto does not move job runs through their states (a run is SUCCESS at once), so the tests set the
states a real service would report through moto's in-process backend, as the SNS tests read theirs.
Each command runs in a subprocess, configured by environment variables like in production.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import attrs
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from tests.conftest import RECORDINGS
from tests.integration.embedded_runs import top_titles, wikiguard, write_allowlist
from tests.support import moto_server
from tests.support.moto_server import REGION, aws_client, unique
from wikiguard.adapters.aws.emr_serverless import SPARK_JARS

pytestmark = pytest.mark.integration
moto_endpoint = moto_server.moto_endpoint  # the session fixture, under its own name

REPO = Path(__file__).resolve().parents[2]
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/wikiguard-emr-job"
WEBHOOK = "https://hooks.slack.com/services/T0/B0/never-in-a-job-run"


@attrs.frozen
class Account:
    """One test's slice of the moto account: WikiGuard's resources and some foreign ones."""

    endpoint: str
    application: str
    foreign_application: str
    artifacts: str
    checkpoints: str
    cluster: str
    service: str

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "WIKIGUARD_AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "WIKIGUARD_EMR_APPLICATION_ID": self.application,
            "WIKIGUARD_EMR_JOB_ROLE_ARN": ROLE,
            "WIKIGUARD_EMR_LOG_GROUP": "/wikiguard/emr-serverless",
            "WIKIGUARD_ARTIFACTS_BUCKET": self.artifacts,
            "WIKIGUARD_CHECKPOINTS_BUCKET": self.checkpoints,
            "WIKIGUARD_CODE_VERSION": "0.1.0",
            "WIKIGUARD_S3_WAREHOUSE": "s3://wikiguard-warehouse-123/",
            "WIKIGUARD_KAFKA_BOOTSTRAP": "b-1.wikiguard.msk.example:9098",
            "WIKIGUARD_KAFKA_SECURITY": "iam",
            "WIKIGUARD_SNS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:wikiguard-critical",
            "WIKIGUARD_SLACK_SECRET_ID": "wikiguard/slack-webhook",
            "WIKIGUARD_SLACK_WEBHOOK_URL": WEBHOOK,
            "WIKIGUARD_ECS_CLUSTER_NAME": self.cluster,
            "WIKIGUARD_ECS_SERVICE_NAME": self.service,
        }
        return env | overrides


@pytest.fixture
def account(moto_endpoint: str) -> Account:
    emr = aws_client("emr-serverless", moto_endpoint)
    ours = emr.create_application(
        name=unique("wikiguard-spark"), releaseLabel="emr-7.9.0", type="SPARK", tags={"project": "wikiguard"}
    )["applicationId"]
    foreign = emr.create_application(
        name=unique("analytics-spark"), releaseLabel="emr-7.9.0", type="SPARK", tags={"project": "analytics"}
    )["applicationId"]
    for application in (ours, foreign):
        # moto answers ListJobRuns of an application without runs with ResourceNotFound; AWS lists none
        emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.setdefault(application, [])
    s3 = aws_client("s3", moto_endpoint)
    artifacts, checkpoints = unique("wikiguard-artifacts"), unique("wikiguard-checkpoints")
    for bucket in (artifacts, checkpoints):
        s3.create_bucket(Bucket=bucket)
    keys = [f"wikiguard/0.1.0/spark_{job}.py" for job in ("bronze", "silver", "gold")]
    keys += ["wikiguard/0.1.0/wikiguard-0.1.0.zip", *(f"jars/{jar}" for jar in SPARK_JARS)]
    for key in keys:
        s3.put_object(Bucket=artifacts, Key=key, Body=b"artifact")

    ecs = aws_client("ecs", moto_endpoint)
    cluster = unique("wikiguard")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family="ingest", containerDefinitions=[{"name": "c", "image": "i", "memory": 512}]
    )
    service = unique("wikiguard-ingest")
    for name, count, tags in (
        (service, 1, {"project": "wikiguard"}),
        ("billing-worker", 3, {"project": "billing"}),  # someone else's, same cluster
        ("wikiguard-lookalike", 2, {}),  # our prefix, not our tag
        ("ingest-other-team", 2, {"project": "wikiguard"}),  # our tag, not our prefix
    ):
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition="ingest", desiredCount=count,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )  # fmt: skip
    return Account(moto_endpoint, ours, foreign, artifacts, checkpoints, cluster, service)


def cli(account: Account, *args: str, ok: bool = True, **env: str) -> Any:
    result = wikiguard(*args, env=account.env(**env), timeout=120)
    if not ok:
        assert result.returncode == 2, (result.returncode, result.stdout, result.stderr[-2000:])
        return result.stderr
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout) if "--json" in args else result.stdout


def runs(account: Account, application: str | None = None) -> dict[str, dict[str, Any]]:
    """Every job run of the application, by id, as GetJobRun reports it."""
    emr = aws_client("emr-serverless", account.endpoint)
    app = application or account.application
    listed = emr.list_job_runs(applicationId=app)["jobRuns"]
    return {r["id"]: emr.get_job_run(applicationId=app, jobRunId=r["id"])["jobRun"] for r in listed}


def set_state(application: str, state: str, run_ids: set[str] | None = None) -> None:
    """What EMR Serverless would report once the runs start (moto leaves them SUCCESS)."""
    for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs.get(application, []):
        if run_ids is None or run.id in run_ids:
            run.state = state


def start_foreign_run(
    account: Account, name: str, tags: dict[str, str] | None, application: str | None = None
) -> str:
    emr = aws_client("emr-serverless", account.endpoint)
    params: dict[str, Any] = {"tags": tags} if tags is not None else {}
    answer = emr.start_job_run(
        applicationId=application or account.application, executionRoleArn=ROLE, name=name,
        jobDriver={"sparkSubmit": {"entryPoint": "s3://elsewhere/report.py"}}, **params,
    )  # fmt: skip
    return str(answer["jobRunId"])


def conf_of(run: dict[str, Any]) -> dict[str, str]:
    parameters = run["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    pairs = re.findall(r"--conf (\S+?)=(\S+)", parameters)
    assert parameters.count("--conf") == len(pairs)
    return dict(pairs)


def test_submit_all_starts_three_tagged_runs_with_the_whole_job_shape(account: Account):
    out = cli(account, "jobs", "submit", "all", "--arg=--trigger", "--arg", "30 seconds", "--json")
    submitted = {r["job"]: r["run_id"] for r in out["submitted"]}
    assert set(submitted) == {"bronze", "silver", "gold"}
    got = runs(account)
    assert set(got) == set(submitted.values())
    for job, run_id in submitted.items():
        run = got[run_id]
        assert run["name"] == f"wikiguard-{job}"
        assert run["tags"] == {"project": "wikiguard", "wikiguard-job": job}
        assert run["executionRole"] == ROLE
        driver = run["jobDriver"]["sparkSubmit"]
        assert driver["entryPoint"] == f"s3://{account.artifacts}/wikiguard/0.1.0/spark_{job}.py"
        assert driver["entryPointArguments"] == ["--trigger", "30 seconds"]
        conf = conf_of(run)
        assert conf["spark.submit.pyFiles"] == f"s3://{account.artifacts}/wikiguard/0.1.0/wikiguard-0.1.0.zip"
        assert conf["spark.jars"].split(",") == [f"s3://{account.artifacts}/jars/{jar}" for jar in SPARK_JARS]
        assert conf["spark.sql.catalog.wikiguard.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
        assert conf["spark.sql.catalog.wikiguard.warehouse"] == "s3://wikiguard-warehouse-123"
        for side in ("spark.emr-serverless.driverEnv.", "spark.executorEnv."):
            assert conf[side + "WIKIGUARD_SPARK_CHECKPOINT"] == f"s3://{account.checkpoints}/{job}"
            assert conf[side + "WIKIGUARD_CATALOG"] == "glue"
            assert conf[side + "WIKIGUARD_SLACK_SECRET_ID"] == "wikiguard/slack-webhook"
            assert conf[side + "WIKIGUARD_SNS_TOPIC_ARN"].endswith(":wikiguard-critical")
            assert conf[side + "WIKIGUARD_KAFKA_SECURITY"] == "iam"
        logging = run["configurationOverrides"]["monitoringConfiguration"]["cloudWatchLoggingConfiguration"]
        assert logging == {
            "enabled": True,
            "logGroupName": "/wikiguard/emr-serverless",
            "logStreamNamePrefix": job,
        }
        assert "never-in-a-job-run" not in json.dumps(run, default=str), "a webhook URL is a secret"


def test_submit_refuses_while_a_run_of_the_job_is_active(account: Account):
    first = cli(account, "jobs", "submit", "bronze", "--json")["submitted"][0]["run_id"]
    set_state(account.application, "RUNNING", {first})
    error = cli(account, "jobs", "submit", "all", ok=False)
    assert first in error and "Nothing submitted" in error
    assert set(runs(account)) == {first}
    cli(account, "jobs", "submit", "silver")  # another job may start
    assert len(runs(account)) == 2


def test_submit_refuses_when_an_artifact_is_missing(account: Account):
    aws_client("s3", account.endpoint).delete_object(Bucket=account.artifacts, Key=f"jars/{SPARK_JARS[0]}")
    error = cli(account, "jobs", "submit", "gold", ok=False)
    assert f"s3://{account.artifacts}/jars/{SPARK_JARS[0]}" in error
    assert runs(account) == {}


def test_cancel_all_cancels_wikiguard_runs_and_leaves_foreign_ones_running(account: Account):
    ours = {r["run_id"] for r in cli(account, "jobs", "submit", "all", "--json")["submitted"]}
    foreign = {
        start_foreign_run(account, "nightly-report", None),
        start_foreign_run(account, "wikiguard-bronze", {"project": "analytics"}),  # our name, not our tag
        start_foreign_run(account, "wikiguard-silver", None),  # our name, no tag at all
        start_foreign_run(account, "team-job", {"project": "wikiguard"}),  # our tag, not our name
    }
    set_state(account.application, "RUNNING")

    out = cli(account, "jobs", "cancel", "all", "--json")
    assert {r["run_id"] for r in out["cancelled"]} == ours
    states = {run_id: run["state"] for run_id, run in runs(account).items()}
    assert {states[r] for r in ours} == {"CANCELLED"}
    assert {states[r] for r in foreign} == {"RUNNING"}
    status = cli(account, "jobs", "status", "--json")
    assert {r["run_id"] for r in status["job_runs"]} == ours  # foreign runs are not even listed


def test_status_and_cancel_need_only_the_application_id_and_submit_says_what_is_missing(account: Account):
    submitted = cli(account, "jobs", "submit", "bronze", "--json")["submitted"][0]["run_id"]
    unset = {"WIKIGUARD_EMR_JOB_ROLE_ARN": "", "WIKIGUARD_ARTIFACTS_BUCKET": "", "WIKIGUARD_CHECKPOINTS_BUCKET": ""}

    status = cli(account, "jobs", "status", "--json", **unset)
    assert [r["run_id"] for r in status["job_runs"]] == [submitted]
    error = cli(account, "jobs", "submit", "silver", ok=False, **unset)
    assert "WIKIGUARD_EMR_JOB_ROLE_ARN" in error and "WIKIGUARD_CHECKPOINTS_BUCKET" in error
    set_state(account.application, "RUNNING")
    cancelled = cli(account, "jobs", "cancel", "all", "--json", **unset)["cancelled"]
    assert [r["run_id"] for r in cancelled] == [submitted]


def test_cancel_one_job_leaves_the_other_jobs_running(account: Account):
    submitted = {r["job"]: r["run_id"] for r in cli(account, "jobs", "submit", "all", "--json")["submitted"]}
    set_state(account.application, "RUNNING")
    out = cli(account, "jobs", "cancel", "silver", "--json")
    assert [r["run_id"] for r in out["cancelled"]] == [submitted["silver"]]
    states = {run_id: run["state"] for run_id, run in runs(account).items()}
    assert states == {
        submitted["bronze"]: "RUNNING",
        submitted["silver"]: "CANCELLED",
        submitted["gold"]: "RUNNING",
    }


def test_a_foreign_application_is_refused_even_when_configured(account: Account):
    # The foreign application holds a run with our name and tag: still not ours to cancel.
    run = start_foreign_run(
        account, "wikiguard-bronze", {"project": "wikiguard"}, account.foreign_application
    )
    set_state(account.foreign_application, "RUNNING")
    other = {"WIKIGUARD_EMR_APPLICATION_ID": account.foreign_application}
    assert "is not WikiGuard's" in cli(account, "jobs", "cancel", "all", ok=False, **other)
    assert "is not WikiGuard's" in cli(account, "jobs", "submit", "bronze", ok=False, **other)
    assert {r: v["state"] for r, v in runs(account, account.foreign_application).items()} == {run: "RUNNING"}


def desired_counts(account: Account) -> dict[str, int]:
    ecs = aws_client("ecs", account.endpoint)
    names = [account.service, "billing-worker", "wikiguard-lookalike", "ingest-other-team"]
    return {
        s["serviceName"]: s["desiredCount"]
        for s in ecs.describe_services(cluster=account.cluster, services=names)["services"]
    }


def test_ingest_service_scales_between_zero_and_one_and_touches_nothing_else(account: Account):
    before = desired_counts(account)
    out = cli(account, "ingest-service", "scale", "0", "--json")
    assert (out["service"], out["desired"]) == (account.service, 0)
    assert desired_counts(account) == before | {account.service: 0}
    assert "publish every event twice" in cli(account, "ingest-service", "scale", "2", ok=False)
    assert cli(account, "ingest-service", "scale", "1", "--json")["desired"] == 1
    assert desired_counts(account) == before


@pytest.mark.parametrize("name", ["billing-worker", "wikiguard-lookalike", "ingest-other-team"])
def test_a_foreign_service_is_left_alone_even_when_configured(account: Account, name: str):
    before = desired_counts(account)
    error = cli(account, "ingest-service", "scale", "0", ok=False, WIKIGUARD_ECS_SERVICE_NAME=name)
    assert "is not WikiGuard's" in error
    assert desired_counts(account) == before


def test_status_reports_tables_job_runs_and_the_ingest_service(account: Account, tmp_path: Path):
    recording = RECORDINGS / "FreelancecoderX_ElectricSQL-RAG__output.jsonl"
    allowlist = write_allowlist(tmp_path / "allowlist.yaml", top_titles(recording, 20))
    warehouse = tmp_path / "wh"
    ran = wikiguard(
        "run", "--source", str(recording), "--warehouse", str(warehouse), "--allowlist", str(allowlist)
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    submitted = cli(account, "jobs", "submit", "gold", "--json")["submitted"][0]["run_id"]

    status = cli(account, "status", "--warehouse", str(warehouse), "--json")
    tables = {t["table"]: t for t in status["tables"]}
    assert all(t["exists"] for t in tables.values()) and len(tables) == 10
    assert tables["bronze_events"]["last_commit"] is not None
    lines = len(recording.read_text(encoding="utf-8").splitlines())  # a file's position is its line number
    assert json.loads(tables["bronze_events"]["checkpoints"]["bronze"]) == {"embedded:0": lines}
    assert "silver.watermark" in tables["silver_events"]["checkpoints"]
    assert [r["run_id"] for r in status["job_runs"]] == [submitted]
    assert status["ingest_service"]["service"] == account.service
    assert status["ingest_service"]["desired"] == 1

    text = cli(account, "status", "--warehouse", str(warehouse))
    assert "bronze_events" in text and "last commit" in text and submitted in text and account.service in text


def test_the_pinned_jar_names_are_those_of_jvm_pom(tmp_path: Path):
    """`SPARK_JARS` (what a job run loads) must follow `jvm/pom.xml` (what fetch-jvm.sh resolves)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(REPO / "jvm" / "pom.xml").getroot()
    properties = {p.tag.split("}")[1]: p.text for p in pom.iterfind("m:properties/*", ns)}
    profile = next(
        p for p in pom.iterfind("m:profiles/m:profile", ns) if p.findtext("m:id", namespaces=ns) == "spark"
    )
    jars = set()
    for dependency in profile.iterfind("m:dependencies/m:dependency", ns):
        version = re.sub(
            r"\$\{([^}]+)\}", lambda m: str(properties[m.group(1)]), dependency.findtext("m:version", "", ns)
        )
        jars.add(f"{dependency.findtext('m:artifactId', '', ns)}-{version}.jar")
    local_only = {j for j in jars if j.startswith("sqlite-jdbc-")}  # the JDBC catalog of local runs
    assert set(SPARK_JARS) == jars - local_only
