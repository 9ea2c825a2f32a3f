"""Overview (``1``): queue depths, charts over time, service health, workers summary.

The depth chart is the console's own live samples; done, failed and wait charts are
the engine's per-minute history from PostgreSQL (:mod:`engine.readapi.history`), read
at most every :data:`~queueconsole.console.chart_ranges.HISTORY_EVERY_S` seconds, so a
console opened after an incident shows it. They follow the queue under the table's
cursor: at 80 columns a chart is some 20 cells wide, where several queues' lines would
cross and hide each other, and colour alone cannot tell them apart without true colour.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Static

from engine.snapshots import MinuteHistory, ReadReplicaStatus, ServiceHealth
from engine.snapshots.tenants import TenantLoad
from engine.specs import DEFAULT_TENANT
from queueconsole.console.chart_ranges import (
    DEFAULT_RANGE,
    HISTORY_EVERY_S,
    RANGES,
    chart_views,
    step_range,
)
from queueconsole.console.memory import memory_text
from queueconsole.console.model import Overview, QueueRow, Selection, WorkersView
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import count, literal
from queueconsole.console.widgets.chart import SeriesChart
from queueconsole.console.widgets.keyed_table import KeyedTable

QUEUE_COLUMNS = (
    ("queue", "queue"),
    ("ready", "ready"),
    ("unacked", "unack"),
    ("running", "run"),
    ("retrying", "retry"),
    ("pending", "pend"),
    ("blocked", "block"),
    ("failed", "fail"),
    ("completed", "done"),
    ("workers", "wrk"),
)


def queue_cells(q: QueueRow) -> tuple[object, ...]:
    """One queue's row; a paused queue says so in words, not only in colour."""
    name = literal(q.name)
    if q.paused:
        name.append(" (paused)", style="yellow")
    failed = Text(count(q.failed), style="red" if q.failed else "")
    return (
        name,
        count(q.ready),
        count(q.unacked),
        count(q.running),
        count(q.retrying),
        count(q.pending),
        count(q.blocked),
        failed,
        count(q.completed),
        count(q.workers),
    )


TENANT_COLUMNS = (
    ("tenant", "tenant"),
    ("waiting", "waiting"),
    ("running", "running/limit"),
    ("done", "done 10m"),
    ("failed", "failed 10m"),
)


def tenant_cells(t: TenantLoad) -> tuple[object, ...]:
    """One tenant's row; at its running limit it says so in words as well as colour."""
    limit = "-" if t.max_running is None else count(t.max_running)
    full = t.max_running is not None and t.running >= t.max_running
    running = Text(f"{count(t.running)}/{limit}", style="yellow" if full else "")
    if full:
        running.append(" full", style="yellow")
    return (
        literal(t.name),
        count(t.waiting),
        running,
        count(t.done),
        Text(count(t.failed), style="red" if t.failed else ""),
    )


def shows_tenants(tenants: tuple[TenantLoad, ...]) -> bool:
    """The tenant table is shown once the installation has a tenant besides the default."""
    return any(t.name != DEFAULT_TENANT for t in tenants)


def health_text(
    services: tuple[ServiceHealth, ...], read_replica: ReadReplicaStatus | None = None
) -> Text:
    """``PostgreSQL up 1.2ms  Redis up 0.3ms  RabbitMQ DOWN``, then where reads go
    when a read replica is configured (``reads replica lag 0.4s``)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("services ", style="bold")
    for s in services:
        text.append(f" {s.title} ")
        if s.up:
            latency = f" {s.latency_ms:.1f}ms" if s.latency_ms is not None else ""
            text.append(f"up{latency}", style="green")
        else:
            text.append("DOWN", style="bold red")
        text.append(" ")
    if read_replica is not None:
        text.append(" reads ")
        text.append_text(replica_text(read_replica))
    return text


def replica_text(status: ReadReplicaStatus) -> Text:
    """``replica lag 0.4s`` in green, or ``primary (replica unreachable: ...)`` in yellow."""
    lag = f" lag {status.lag_s:.1f}s" if status.lag_s is not None else ""
    if status.on_replica:
        return Text(f"replica{lag}", style="green")
    return Text(f"primary{lag} ({status.reason})", style="yellow")


def workers_text(view: WorkersView) -> Text:
    """``workers 8 (5 busy) · reserved 1,024M of 4,096M budget · resident 610M``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("workers  ", style="bold")
    if not view.available:
        text.append("not reported (no supervisor attached)", style="italic")
        return text
    busy = sum(1 for w in view.workers if w.current_job_id is not None)
    text.append(f"{len(view.workers)} ({busy} busy)")
    text.append(" · ")
    text.append_text(memory_text(view))
    return text


class OverviewPane(Pane):
    """Everything at a glance; the queue table's cursor picks the queue for p, + and -."""

    DEFAULT_CSS = """
    OverviewPane #queues {
        height: auto;
        max-height: 45%;
    }
    OverviewPane #tenants {
        height: auto;
        max-height: 25%;
        display: none;
    }
    OverviewPane #charts {
        height: 1fr;
        min-height: 6;
    }
    OverviewPane .line {
        height: 1;
    }
    """

    title = "Overview"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("less_than_sign", "range(-1)", "Shorter range", show=False),
        Binding("greater_than_sign", "range(1)", "Longer range", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.range_index = DEFAULT_RANGE
        """Which of :data:`~queueconsole.console.chart_ranges.RANGES` the charts show."""
        self._history: MinuteHistory | None = None
        self._read_at = float("-inf")

    def compose(self) -> ComposeResult:
        yield Static(classes="line", id="services")
        yield Static(classes="line", id="workers-summary")
        yield KeyedTable(QUEUE_COLUMNS, id="queues")
        yield KeyedTable(TENANT_COLUMNS, id="tenants")
        yield Static(classes="line", id="chart-caption")
        with Horizontal(id="charts"):
            yield SeriesChart("depth", id="chart-depth")
            yield SeriesChart("done /min", id="chart-throughput")
            yield SeriesChart("failed /min", id="chart-failures")
            yield SeriesChart("wait s", id="chart-wait")
        yield Static(classes="pane-status")

    async def load(self, source: DataSource) -> Any | None:
        """The history of the range shown, when the last read is older than
        :data:`HISTORY_EVERY_S` (or of another range); None otherwise."""
        _label, window = RANGES[self.range_index]
        fresh = time.monotonic() - self._read_at < HISTORY_EVERY_S
        if fresh and self._history is not None and self._history.window == window:
            return None
        self._read_at = time.monotonic()
        return await source.minute_history(window)

    def show(self, data: Any) -> None:
        if isinstance(data, MinuteHistory):
            self._history = data
            self._draw_history()

    def action_range(self, step: int) -> None:
        """``<`` and ``>``: a shorter or longer range, read at once."""
        index = step_range(self.range_index, step)
        if index == self.range_index:
            return
        self.range_index = index
        self._read_at = float("-inf")
        self._draw_history()
        self.app.run_worker(self._reload(), group="history", exclusive=True, exit_on_error=False)

    async def _reload(self) -> None:
        source: DataSource = getattr(self.app, "source")  # noqa: B009 - the app's data source
        try:
            self.show(await self.load(source))
        except Exception as exc:  # a service down: the banner says so; keep the old charts
            self.show_error(str(exc) or type(exc).__name__)

    @on(KeyedTable.RowHighlighted)
    def _queue_changed(self) -> None:
        self._draw_history()

    def _draw_history(self) -> None:
        label, window = RANGES[self.range_index]
        queue = self.selection().queue
        caption = Text(no_wrap=True, overflow="ellipsis")
        caption.append("history ", style="bold")
        caption.append(f"{queue or 'all queues'} · last {label} · wait p50, p95")
        caption.append("  < > range", style="dim")
        self.query_one("#chart-caption", Static).update(caption)
        history = self._history
        if history is None or history.window != window:
            return  # the range's first read is on its way; the old lines stay until then
        charts = ("#chart-throughput", "#chart-failures", "#chart-wait")
        for chart_id, view in zip(charts, chart_views(history, queue, label), strict=True):
            self.query_one(chart_id, SeriesChart).view = view

    def on_overview(self, overview: Overview) -> None:
        self.query_one("#services", Static).update(
            health_text(overview.services, overview.read_replica)
        )
        self.query_one("#workers-summary", Static).update(workers_text(overview.workers))
        table = self.query_one("#queues", KeyedTable)
        table.set_rows([(q.name, queue_cells(q)) for q in overview.queues])
        tenants = self.query_one("#tenants", KeyedTable)
        tenants.display = shows_tenants(overview.tenants)
        if tenants.display:
            tenants.set_rows([(t.name, tenant_cells(t)) for t in overview.tenants])
        if overview.charts:
            self.query_one("#chart-depth", SeriesChart).series = overview.charts[0]
        status = self.query_one(".pane-status", Static)
        if not overview.queues:
            status.update(Text("no queues yet: submit a job (queueconsole submit TYPE)"))
        else:
            status.update("")

    def selection(self) -> Selection:
        key = self.query_one("#queues", KeyedTable).selected_key
        return Selection(queue=str(key) if key is not None else None)
