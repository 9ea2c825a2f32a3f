"""Per-queue history over a window: finished jobs, waits and depth, minute by minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One bucket (a minute, or several for long windows) of one queue or of all."""

    start: datetime
    completed: int = 0
    failed: int = 0
    wait_p50_s: float | None = None
    """Median wait (queued to started) of the jobs that finished in the bucket; a bucket
    of several minutes has its minutes' medians averaged, weighted by jobs."""
    wait_p95_s: float | None = None
    """95th percentile wait; a bucket of several minutes has its minutes' largest."""
    depth: int | None = None
    """Jobs waiting or running, sampled once a minute by the rollup (the bucket's largest);
    None when no sample was taken (no engine ran)."""


@dataclass(frozen=True, slots=True)
class QueueHistory:
    """One queue's buckets, oldest first, one per bucket of the window (zeros included)."""

    queue: str
    points: tuple[HistoryPoint, ...]


@dataclass(frozen=True, slots=True)
class MinuteHistory:
    """What :func:`engine.readapi.history.history` read: every bucket of the window."""

    window: timedelta
    bucket: timedelta
    """Length of one point: a minute up to 2.5 hours, longer beyond (150 points at most)."""
    start: datetime
    """Start of the first bucket."""
    end: datetime
    """End of the last bucket: the end of the current (partial) minute."""
    rolled_until: datetime | None
    """Minutes before this come from the rollup, later ones live from ``jobs``."""
    queues: tuple[QueueHistory, ...] = ()
    """Every queue with anything in the window, by name."""
    total: tuple[HistoryPoint, ...] = ()
    """All queues together, per bucket."""

    def points(self, queue: str | None = None) -> tuple[HistoryPoint, ...]:
        """One queue's buckets (empty buckets when it had nothing), or the total."""
        if queue is None:
            return self.total
        for q in self.queues:
            if q.queue == queue:
                return q.points
        return tuple(HistoryPoint(p.start) for p in self.total)
