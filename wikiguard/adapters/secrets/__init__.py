"""Secrets the adapters need (a Slack webhook URL or bot token), read where they are kept.

`Secret` is adapter-side only: no use case needs a secret, the sinks do. `LiteralSecret` holds a value
`Settings` already read (from the environment, for local use); `SecretsManagerSecret` reads AWS
Secrets Manager. Neither ever shows its value in a repr, a log line or an error message.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from wikiguard.domain.errors import WikiguardError


class SecretUnavailableError(WikiguardError):
    """A secret could not be read (missing, no access, not the expected shape)."""


@runtime_checkable
class Secret(Protocol):
    """A secret string, fetched when needed."""

    def value(self) -> str:
        """The secret; raises `SecretUnavailableError` when it cannot be read."""
        ...


class LiteralSecret(Secret):
    """A secret already in hand (for example read from the environment by `Settings`)."""

    def __init__(self, secret: str, label: str = "literal") -> None:
        if not secret:
            raise SecretUnavailableError(f"secret {label} is empty")
        self._secret = secret
        self.label = label

    def value(self) -> str:
        return self._secret

    def __repr__(self) -> str:
        return f"LiteralSecret(label={self.label!r}, value=<redacted>)"
