"""Static checks of infra/terraform: every file parses as HCL2 and every resource
carries the `project = wikiguard` tag the CLI relies on to know what it may touch.

No Terraform binary or AWS access is needed; python-hcl2 does the parsing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

try:
    import hcl2
except ImportError:  # pragma: no cover - the failure below is the point
    hcl2 = None

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "infra" / "terraform"

# Resource types whose AWS provider 5.x schema has no `tags` argument (checked
# against the provider schema). Each one hangs off a tagged parent: a bucket,
# a role, the topic, or (aws_msk_configuration) the tagged MSK cluster.
UNTAGGABLE = frozenset(
    {
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_msk_configuration",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_sns_topic_subscription",
    }
)

# Fixed names by design: the Glue database name is part of the code's contract
# (wikiguard_lakehouse); inline policies are named inside their prefixed role.
PREFIX_EXEMPT = frozenset({"aws_glue_catalog_database", "aws_iam_role_policy"})

# `tags = local.tags` or `tags = merge(local.tags, {...})`: local.tags first so
# nothing can drop it, only add to it.
TAGS_EXPRESSION = re.compile(r"^\$\{(local\.tags|merge\(local\.tags,.*\))\}$", re.S)


def _require_hcl2() -> Any:
    if hcl2 is None:
        pytest.fail(
            "python-hcl2 is not installed: `pip install python-hcl2` "
            "(it belongs in the dev extra of pyproject.toml)."
        )
    return hcl2


def _unquote(label: str) -> str:
    return label.strip('"')


def _parsed() -> dict[str, dict[str, Any]]:
    parser = _require_hcl2()
    files = sorted(TERRAFORM_DIR.glob("*.tf"))
    assert files, f"no .tf files under {TERRAFORM_DIR}"
    parsed = {}
    for path in files:
        with path.open(encoding="utf-8") as handle:
            parsed[path.name] = parser.load(handle)
    return parsed


def _resources(parsed: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for filename, doc in parsed.items():
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found.append((filename, _unquote(rtype), _unquote(name), body))
    return found


def _tags_local(parsed: dict[str, dict[str, Any]]) -> str:
    for doc in parsed.values():
        for block in doc.get("locals", []):
            if "tags" in block:
                return str(block["tags"])
    pytest.fail("no `locals { tags = ... }` in infra/terraform")


def test_every_terraform_file_parses() -> None:
    parsed = _parsed()
    expected = {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "storage.tf",
        "msk.tf",
        "ecs.tf",
        "emr.tf",
        "alerts.tf",
        "iam.tf",
        "glue_athena.tf",
    }
    assert expected <= set(parsed)
    assert len(_resources(parsed)) > 20


def test_local_tags_force_project_wikiguard_last() -> None:
    tags = _tags_local(_parsed())
    # merge() lets later maps win: the project tag must come after extra_tags.
    assert re.fullmatch(r'\$\{merge\(var\.extra_tags, \{project = "wikiguard"\}\)\}', tags), tags


def test_provider_default_tags_use_local_tags() -> None:
    parsed = _parsed()
    providers = [
        body
        for doc in parsed.values()
        for block in doc.get("provider", [])
        for name, body in block.items()
        if _unquote(name) == "aws"
    ]
    assert len(providers) == 1
    default_tags = providers[0]["default_tags"]
    assert default_tags[0]["tags"] == "${local.tags}"


def test_every_taggable_resource_carries_the_project_tag() -> None:
    untagged = []
    for filename, rtype, name, body in _resources(_parsed()):
        if rtype in UNTAGGABLE:
            assert "tags" not in body, f"{rtype} has no tags argument in the AWS provider"
            continue
        tags = body.get("tags")
        if not isinstance(tags, str) or not TAGS_EXPRESSION.match(tags):
            untagged.append(f"{filename}: {rtype}.{name} tags={tags!r}")
    assert not untagged, "resources without local.tags:\n" + "\n".join(untagged)


def test_resource_names_start_with_the_prefix() -> None:
    # The CLI finds its resources by name prefix as well as by tag.
    unprefixed = []
    for filename, rtype, name, body in _resources(_parsed()):
        if rtype in PREFIX_EXEMPT:
            continue
        for attribute in ("name", "cluster_name", "family"):
            value = body.get(attribute)
            if isinstance(value, str) and "var.name_prefix" not in value:
                unprefixed.append(f"{filename}: {rtype}.{name}.{attribute}={value}")
    assert not unprefixed, "\n".join(unprefixed)


def test_ingest_service_never_runs_two_tasks() -> None:
    services = [body for _, rtype, _, body in _resources(_parsed()) if rtype == "aws_ecs_service"]
    assert len(services) == 1
    service = services[0]
    assert service["desired_count"] == 1
    assert service["deployment_minimum_healthy_percent"] == 0
    assert service["deployment_maximum_percent"] == 100
