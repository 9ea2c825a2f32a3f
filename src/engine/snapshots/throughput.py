"""Runs that ended per second and per minute, and how long jobs waited and ran."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ThroughputPoint:
    """Runs that ended in one second or one minute (``start`` is its first second)."""

    start: datetime
    completed: int
    failed: int
    """Runs that ended in an error (to RETRYING or FAILED)."""


@dataclass(frozen=True, slots=True)
class ThroughputSection:
    """Completions and failures per second (recent minutes) and per minute (last hour)."""

    available: bool
    source: str
    per_second: tuple[ThroughputPoint, ...] = ()
    per_minute: tuple[ThroughputPoint, ...] = ()
    error: str | None = None
    covers_from: datetime | None = None
    """Earliest moment the series are complete from; later than the window start when the
    PostgreSQL fallback had to stop early (it reads a bounded number of events)."""

    @property
    def completed(self) -> int:
        """Completions in the per-minute window."""
        return sum(p.completed for p in self.per_minute)

    @property
    def failed(self) -> int:
        """Failed runs in the per-minute window."""
        return sum(p.failed for p in self.per_minute)

    @property
    def failure_rate(self) -> float | None:
        """Failed runs / ended runs over the per-minute window; None with no runs."""
        ended = self.completed + self.failed
        return self.failed / ended if ended else None


@dataclass(frozen=True, slots=True)
class TypeLatency:
    """Wait (queued to started) and run time (started to finished) of one job type."""

    type: str
    finished: int
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    run_p50_ms: float | None
    run_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class LatencySection:
    """Percentiles over the most recently finished jobs (a bounded window, never a scan)."""

    available: bool
    window_s: int
    sample: int = 0
    """Jobs the percentiles were computed from."""
    wait_p50_ms: float | None = None
    wait_p95_ms: float | None = None
    run_p50_ms: float | None = None
    run_p95_ms: float | None = None
    by_type: tuple[TypeLatency, ...] = ()
    error: str | None = None
