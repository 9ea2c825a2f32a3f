"""The Overview's history charts: the ranges ``<`` and ``>`` step through, and the charts
one range of :class:`~engine.snapshots.MinuteHistory` draws for one queue.

Pure functions of a snapshot: switching the queue under the cursor redraws from the
history already read, without a query.
"""

from __future__ import annotations

from datetime import timedelta

from engine.snapshots import MinuteHistory
from queueconsole.console.model import ChartView, Series

RANGES: tuple[tuple[str, timedelta], ...] = (
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("24h", timedelta(hours=24)),
)
"""(label, window) of every range, shortest first."""
DEFAULT_RANGE = 1  # index into RANGES: one hour
HISTORY_EVERY_S = 15.0  # seconds between two reads of the same range from PostgreSQL


def step_range(index: int, step: int) -> int:
    """The range ``step`` away from ``index``, stopping at either end."""
    return min(max(index + step, 0), len(RANGES) - 1)


def unit(history: MinuteHistory) -> str:
    """``/min`` or, for buckets of several minutes, ``/10min``."""
    minutes = int(history.bucket.total_seconds() // 60)
    return "/min" if minutes == 1 else f"/{minutes}min"


def chart_views(
    history: MinuteHistory, queue: str | None, span: str
) -> tuple[ChartView, ChartView, ChartView]:
    """Done, failed and wait (p50 and p95 lines) charts of ``queue`` (None: all queues).

    Titles are short (``done/min 1h``, ``wait s 1h``): at 80 columns a chart is some 20
    cells wide and plotext drops a title that does not fit; the caption above the charts
    names the queue, the range and the two wait lines."""
    points = history.points(queue)
    per = unit(history)
    done = Series("done", tuple(float(p.completed) for p in points))
    failed = Series("failed", tuple(float(p.failed) for p in points))
    p50 = Series("p50", tuple(p.wait_p50_s or 0.0 for p in points))
    p95 = Series("p95", tuple(p.wait_p95_s or 0.0 for p in points))
    return (
        ChartView(f"done{per} {span}", (done,), span),
        ChartView(f"failed{per} {span}", (failed,), span),
        ChartView(f"wait s {span}", (p50, p95), span),
    )
