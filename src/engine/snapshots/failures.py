"""FAILED jobs grouped by error fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso
from engine.snapshots.jobs import JobRef, JobSummary

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
    tenants: tuple[str, ...] = ()
    """The tenants whose jobs failed this way (among the jobs scanned)."""

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
            "tenants": list(self.tenants),
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


@dataclass(frozen=True, slots=True)
class GroupRetryPreview:
    """What retrying a failure group would do, read just now (``Client.preview_retry_group``).

    The group's own size comes from the database, not from the dashboard's
    window over the newest failures, so a confirmation can repeat it exactly.
    """

    fingerprint: str
    count: int
    """FAILED jobs in the group."""
    newest_ids: tuple[int, ...]
    """The newest of them (a few), newest first."""
    blocked_count: int
    """BLOCKED jobs downstream of the group that a retry may release (each re-checked)."""
    blocked: tuple[JobRef, ...]
    """The first few of those, by id."""


@dataclass(frozen=True, slots=True)
class GroupRetried:
    """What a failure group's retry did (``Client.retry_group``)."""

    fingerprint: str
    retried: int
    """FAILED jobs that run again, with a fresh attempt budget."""
    skipped: int
    """Jobs of the group that could not be retried when their turn came (their state had
    changed meanwhile, or a live job holds their idempotency key); they are as they were."""
    released: int
    """BLOCKED dependents that became runnable again (PENDING or QUEUED)."""
    batches: int
    """Transactions the retry took (each committed, then published)."""
