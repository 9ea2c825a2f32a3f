"""The dead-letter queue as the engine knows it: failures, their copies, what an action did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import iso


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A FAILED job and whether its dead-letter copy is in the broker."""

    job_id: int
    type: str
    queue: str
    attempts: int
    failed_at: datetime | None
    error_type: str | None
    error_message: str | None
    fingerprint: str
    """Its failure group's key (what ``dead replay --group`` and ``R`` select by)."""
    in_broker: bool
    """Whether the latest sweep of the dead-letter queue found this failure's copy."""

    @property
    def error(self) -> str:
        """``Type: message`` as the Failures pane shows it."""
        if self.error_type and self.error_message:
            return f"{self.error_type}: {self.error_message}"
        return self.error_type or self.error_message or ""

    def to_json(self) -> dict[str, Any]:
        """One element of ``queueconsole dead list --json`` (a contract: add, never rename)."""
        return {
            "job_id": self.job_id,
            "type": self.type,
            "queue": self.queue,
            "attempts": self.attempts,
            "failed_at": iso(self.failed_at),
            "error": self.error,
            "fingerprint": self.fingerprint,
            "in_broker": self.in_broker,
        }


@dataclass(frozen=True, slots=True)
class DeadSweep:
    """What one reading of the dead-letter queue did."""

    swept: bool
    """False when another engine held the sweep lease, or the queue did not exist."""
    seen: int = 0
    kept: int = 0
    removed: int = 0
    """Copies acked away: their failure was retried, replayed, pruned or purged (or garbage)."""
    rebound: bool = False
    """The queue was given new bounds (its copies moved through a holding queue)."""

    def to_json(self) -> dict[str, Any]:
        """The ``sweep`` part of the dead commands' JSON."""
        return {
            "swept": self.swept,
            "seen": self.seen,
            "kept": self.kept,
            "removed": self.removed,
            "rebound": self.rebound,
        }


@dataclass(frozen=True, slots=True)
class DeadReplayed:
    """A replay: jobs run again with a fresh budget, dependents released, copies removed."""

    replayed: int
    job_ids: tuple[int, ...]
    """The ids replayed, when they were named (a group's replay gives only its count)."""
    released: int
    """BLOCKED dependents that became PENDING or QUEUED again."""
    fingerprint: str | None = None
    """The failure group replayed, for ``--group``."""
    skipped: int = 0
    """Jobs of a group that were no longer FAILED when their turn came."""
    sweep: DeadSweep | None = None
    """None when the broker could not be reached: the engine removes the copies later."""

    def to_json(self) -> dict[str, Any]:
        """``queueconsole dead replay --json``."""
        return {
            "replayed": self.replayed,
            "job_ids": list(self.job_ids),
            "group": self.fingerprint,
            "released": self.released,
            "skipped": self.skipped,
            "copies_removed": self.sweep.removed if self.sweep else None,
        }


@dataclass(frozen=True, slots=True)
class DeadPurged:
    """A purge: copies removed from the broker; PostgreSQL keeps the failures."""

    marked: int
    """Failures whose copy was purged (whether or not the broker still held it)."""
    before: datetime | None
    sweep: DeadSweep

    def to_json(self) -> dict[str, Any]:
        """``queueconsole dead purge --json``."""
        return {
            "failures": self.marked,
            "failed_before": iso(self.before),
            "copies_removed": self.sweep.removed,
        }
