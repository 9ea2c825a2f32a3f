"""A bounded client-side history of queue figures for the Overview charts.

The console samples the per-queue counts on every refresh and keeps the last
:data:`HISTORY_SAMPLES` of them: the Overview's live depth chart. Done, failed and
wait over minutes to a day come from the engine's per-minute history in PostgreSQL
instead (:mod:`queueconsole.console.chart_ranges`), which survives a restart.
Throughput and failures here are the change of the completed and failed totals
between two samples, per second, kept for the overview snapshot's other readers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

from queueconsole.console.model import QueueRow, Series

HISTORY_SAMPLES = 300  # samples kept; at one refresh a second, five minutes


class History:
    """Depth, throughput and failures over time, at most ``size`` samples each.

    Args:
        size: how many samples to keep per series.
    """

    def __init__(self, size: int = HISTORY_SAMPLES) -> None:
        self._depth: deque[float] = deque(maxlen=size)
        self._throughput: deque[float] = deque(maxlen=size)
        self._failures: deque[float] = deque(maxlen=size)
        self._last: tuple[datetime, int, int] | None = None

    def record(self, at: datetime, queues: Sequence[QueueRow]) -> None:
        """Add one sample taken at ``at``."""
        depth = sum(q.depth for q in queues)
        completed = sum(q.completed for q in queues)
        failed = sum(q.failed for q in queues)
        throughput = failures = 0.0
        if self._last is not None:
            then, last_completed, last_failed = self._last
            seconds = (at - then).total_seconds()
            if seconds > 0:
                # Totals can shrink (retention, a retried failure); a rate is never negative.
                throughput = max(0, completed - last_completed) / seconds
                failures = max(0, failed - last_failed) / seconds
        self._last = (at, completed, failed)
        self._depth.append(float(depth))
        self._throughput.append(throughput)
        self._failures.append(failures)

    def seed(
        self, depth: Sequence[float], throughput: Sequence[float], failures: Sequence[float]
    ) -> None:
        """Replace the history (screenshots and snapshot tests draw fixed curves)."""
        for target, values in (
            (self._depth, depth),
            (self._throughput, throughput),
            (self._failures, failures),
        ):
            target.clear()
            target.extend(float(v) for v in values)

    def series(self) -> tuple[Series, ...]:
        """An immutable copy of the three series, oldest sample first."""
        return (
            Series("depth", tuple(self._depth)),
            Series("throughput /s", tuple(self._throughput)),
            Series("failures /s", tuple(self._failures)),
        )
