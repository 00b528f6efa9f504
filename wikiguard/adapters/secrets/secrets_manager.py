"""A secret kept in AWS Secrets Manager: the whole SecretString, or one key of a JSON SecretString."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wikiguard.adapters.secrets import Secret, SecretUnavailableError

log = logging.getLogger(__name__)


class SecretsManagerSecret(Secret):
    """Reads `secret_id` (name or ARN) with a boto3 `secretsmanager` client.

    The value is cached for `ttl_seconds` so every alert does not cost an API call, yet a rotated
    webhook or token is picked up without a restart.
    """

    def __init__(
        self,
        client: Any,
        secret_id: str,
        *,
        json_key: str | None = None,
        ttl_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.secret_id = secret_id
        self.json_key = json_key
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cached: tuple[str, float] | None = None

    def value(self) -> str:
        now = self._monotonic()
        if self._cached is not None and now - self._cached[1] < self._ttl:
            return self._cached[0]
        secret = self._fetch()
        self._cached = (secret, now)
        return secret

    def _fetch(self) -> str:
        where = self.secret_id + (f"[{self.json_key}]" if self.json_key else "")
        try:
            response = self._client.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise SecretUnavailableError(f"cannot read secret {where}: {code}") from None
        except BotoCoreError as exc:
            raise SecretUnavailableError(
                f"cannot reach Secrets Manager for {where}: {type(exc).__name__}"
            ) from None
        text = response.get("SecretString")
        if not isinstance(text, str) or not text:
            raise SecretUnavailableError(f"secret {where} has no SecretString")
        if self.json_key is None:
            log.debug("read secret %s", where)
            return text
        try:
            document = json.loads(text)
        except ValueError:
            # never echo the text: it is the secret
            raise SecretUnavailableError(f"secret {self.secret_id} is not a JSON object") from None
        value = document.get(self.json_key) if isinstance(document, dict) else None
        if not isinstance(value, str) or not value:
            raise SecretUnavailableError(
                f"secret {self.secret_id} has no non-empty string key {self.json_key!r}"
            )
        log.debug("read secret %s", where)
        return value

    def __repr__(self) -> str:
        return f"SecretsManagerSecret(secret_id={self.secret_id!r}, json_key={self.json_key!r})"
