"""Control of WikiGuard's own AWS resources (EMR Serverless job runs, the ECS ingest service).

The ownership rule lives here, once: the CLI touches a resource only when its name starts with the
project's name prefix AND it carries the tag `project = wikiguard` (what `infra/terraform/main.tf`
puts on everything). Anything else in the account is foreign and left alone, whatever the
configuration says: the earlier system's clean-up script stopped every service in the account.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from wikiguard.domain.errors import WikiguardError

PROJECT_TAG = ("project", "wikiguard")
NAME_PREFIX = "wikiguard"


class AwsControlError(WikiguardError):
    """An AWS control-plane call failed (missing resource, access denied, throttled, unreachable)."""


class ForeignResourceError(WikiguardError):
    """The resource is not WikiGuard's (wrong name prefix or no `project = wikiguard` tag): not touched."""


def is_owned(name: str | None, tags: Mapping[str, str] | None, prefix: str = NAME_PREFIX) -> bool:
    """Both marks of ownership: the name starts with `prefix` and the project tag is ours."""
    key, value = PROJECT_TAG
    return bool(name) and str(name).startswith(prefix) and (tags or {}).get(key) == value


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Wrap SDK errors into `AwsControlError`, keeping AWS's error code and message."""
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        raise AwsControlError(f"{what}: {error.get('Code', 'error')}: {error.get('Message', err)}") from err
    except BotoCoreError as err:
        raise AwsControlError(f"{what}: {type(err).__name__}: {err}") from err
