"""The resume id in a small state file, replaced atomically so a crash leaves the old or the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wikiguard.application.ports import ResumeStore
from wikiguard.domain.errors import WikiguardError


class StateFileError(WikiguardError):
    """A state file that cannot be read or written."""


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FileResumeStore(ResumeStore):
    """One line: the SSE id of the last event ingest has delivered (a JSON array, kept verbatim)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateFileError(f"cannot read resume file {self.path}: {exc}") from exc
        return text or None

    def save(self, event_id: str) -> None:
        try:
            write_atomically(self.path, event_id + "\n")
        except OSError as exc:
            raise StateFileError(f"cannot write resume file {self.path}: {exc}") from exc
