"""FAILED jobs grouped by error fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso
from engine.snapshots.jobs import JobSummary

NO_MESSAGE = "(no error message)"


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """FAILED jobs that share an error fingerprint (exception type + normalised message)."""

    fingerprint: str
    count: int
    error_type: str | None
    sample_message: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    job_ids: tuple[int, ...]
    """The newest few jobs of the group, newest first (``count`` may be larger)."""
    queues: tuple[str, ...] = ()
    """Queues its known jobs are in, when the reader had them at hand."""
    jobs: tuple[JobSummary, ...] = ()
    """Rows of its known jobs, when the reader had them at hand."""

    @property
    def message(self) -> str:
        """The sample message, or a placeholder that says there was none."""
        return self.sample_message or NO_MESSAGE

    def to_json(self) -> dict[str, Any]:
        """One element of ``failures`` in the dashboard JSON."""
        return {
            "fingerprint": self.fingerprint,
            "count": self.count,
            "error_type": self.error_type,
            "message": self.sample_message,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "job_ids": list(self.job_ids),
        }


@dataclass(frozen=True, slots=True)
class FailuresSection:
    """Failure groups, largest first, over the most recent FAILED jobs."""

    available: bool
    groups: tuple[FailureGroup, ...] = ()
    scanned: int = 0
    """FAILED jobs examined; equal to the scan limit when older ones were left out."""
    truncated: bool = False
    error: str | None = None
