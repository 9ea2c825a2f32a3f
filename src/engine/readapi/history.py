"""Per-queue history for charts: the rollup's minutes plus a live right edge.

Minutes before the rollup's marker come from ``queue_minutes`` (a range of its
primary key, summed into buckets in PostgreSQL); the minutes after it, at most
:data:`LIVE_MAX_MIN` of them (the current, partial minute and the ones not yet
settled), are read live from ``jobs`` through ``jobs_finished_at_idx`` so the
chart's right edge moves while the rollup waits for its minute to close. When no
engine has rolled up for longer than that (none running), the minutes between
are empty rather than a large read of ``jobs`` on every refresh.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.db.connection import Connection
from engine.errors import UserError
from engine.queries.queue_minutes import (
    QUEUE_MINUTE_BUCKETS,
    QUEUE_MINUTE_FINISHED,
    QUEUE_MINUTE_NOW,
    QUEUE_MINUTE_ROLLUP_MARKER,
)
from engine.snapshots.history import HistoryPoint, MinuteHistory, QueueHistory

MAX_POINTS = 150  # buckets per window at most: a 24 h window has 10-minute buckets
MAX_WINDOW = timedelta(days=7)  # the rollup keeps seven days
LIVE_MAX_MIN = 2  # minutes read live from jobs at most: the rollup lags 1 min + 15 s


@dataclass(slots=True)
class _Bucket:
    """Figures summed into one bucket; percentiles merged as the snapshot documents."""

    completed: int = 0
    failed: int = 0
    p50_weighted: float = 0.0
    p50_weight: int = 0
    p95: float | None = None
    depth: int | None = None

    def add(
        self,
        completed: int,
        failed: int,
        p50: float | None,
        p95: float | None,
        depth: int | None,
    ) -> None:
        self.completed += completed
        self.failed += failed
        if p50 is not None and completed + failed:
            self.p50_weighted += p50 * (completed + failed)
            self.p50_weight += completed + failed
        if p95 is not None:
            self.p95 = p95 if self.p95 is None else max(self.p95, p95)
        if depth is not None:
            self.depth = depth if self.depth is None else max(self.depth, depth)

    def point(self, start: datetime) -> HistoryPoint:
        p50 = self.p50_weighted / self.p50_weight if self.p50_weight else None
        return HistoryPoint(start, self.completed, self.failed, p50, self.p95, self.depth)


def check_window(window: timedelta) -> timedelta:
    """The window, or a UserError naming what is wrong with it."""
    if not isinstance(window, timedelta):
        raise UserError(f"history window {window!r} is not a duration")
    if window < timedelta(minutes=1) or window > MAX_WINDOW:
        raise UserError(f"history window {window} must be between 1 minute and 7 days")
    return window


async def history(conn: Connection, window: timedelta, queue: str | None = None) -> MinuteHistory:
    """Completed, failed, wait p50/p95 and depth per queue over ``window``, ending now.

    Points are per minute up to :data:`MAX_POINTS` minutes, per N minutes beyond
    (24 h: 10 minutes). ``queue`` limits the read to one queue.
    """
    check_window(window)
    clock = (await conn.execute(QUEUE_MINUTE_NOW)).one()
    end: datetime = clock.minute + timedelta(minutes=1)
    minutes = math.ceil(window.total_seconds() / 60)
    bucket_min = max(1, math.ceil(minutes / MAX_POINTS))
    buckets = math.ceil(minutes / bucket_min)
    bucket = timedelta(minutes=bucket_min)
    start = end - bucket * buckets
    rolled: datetime | None = await conn.scalar(QUEUE_MINUTE_ROLLUP_MARKER)
    rolled_until = start if rolled is None else min(max(rolled, start), end)

    sums: dict[str, dict[int, _Bucket]] = {}

    def at(name: str, index: int) -> _Bucket:
        return sums.setdefault(name, {}).setdefault(index, _Bucket())

    stored = await conn.execute(
        QUEUE_MINUTE_BUCKETS,
        {
            "start": start,
            "end": end,
            "rolled": rolled_until,
            "bucket_min": bucket_min,
            "queue": queue,
        },
    )
    for r in stored:
        b = at(r.queue, int((r.bucket - start) / bucket))
        b.add(int(r.completed), int(r.failed), None, r.wait_p95_s, r.depth)
        if r.p50_weight:
            b.p50_weighted += float(r.p50_weighted)
            b.p50_weight += int(r.p50_weight)
    live_from = max(rolled_until, end - timedelta(minutes=LIVE_MAX_MIN))
    if live_from < end:
        live = await conn.execute(QUEUE_MINUTE_FINISHED, {"start": live_from, "end": end})
        for r in live:
            if queue is not None and r.queue != queue:
                continue
            index = int((r.minute - start) / bucket)
            at(r.queue, index).add(
                int(r.completed), int(r.failed), r.wait_p50_s, r.wait_p95_s, None
            )

    starts = [start + bucket * i for i in range(buckets)]
    queues = tuple(QueueHistory(name, tuple(_points(sums[name], starts))) for name in sorted(sums))
    totals: dict[int, _Bucket] = {}
    for per_queue in sums.values():
        for index, b in per_queue.items():
            t = totals.setdefault(index, _Bucket())
            t.completed += b.completed
            t.failed += b.failed
            t.p50_weighted += b.p50_weighted
            t.p50_weight += b.p50_weight
            if b.p95 is not None:
                t.p95 = b.p95 if t.p95 is None else max(t.p95, b.p95)
            if b.depth is not None:
                t.depth = b.depth + (t.depth or 0)
    return MinuteHistory(
        window=window,
        bucket=bucket,
        start=start,
        end=end,
        rolled_until=rolled,
        queues=queues,
        total=tuple(_points(totals, starts)),
    )


def _points(by_index: dict[int, _Bucket], starts: Iterable[datetime]) -> Iterable[HistoryPoint]:
    for i, s in enumerate(starts):
        b = by_index.get(i)
        yield b.point(s) if b is not None else HistoryPoint(s)
