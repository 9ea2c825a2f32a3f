"""Overview (``1``): queue depths, charts over time, service health, workers summary."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from engine.snapshots import ServiceHealth
from queueconsole.console.model import Overview, QueueRow, Selection, WorkersView
from queueconsole.console.panes.base import Pane
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


def health_text(services: tuple[ServiceHealth, ...]) -> Text:
    """``PostgreSQL up 1.2ms  Redis up 0.3ms  RabbitMQ DOWN``."""
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
    return text


def workers_text(view: WorkersView) -> Text:
    """``workers 8 (5 busy) · memory 1.2G of 4.0G budget``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("workers  ", style="bold")
    if not view.available:
        text.append("not reported (no supervisor attached)", style="italic")
        return text
    busy = sum(1 for w in view.workers if w.current_job_id is not None)
    text.append(f"{len(view.workers)} ({busy} busy)")
    if view.used_mb is not None:
        text.append(f" · memory {view.used_mb:,.0f}M")
        if view.budget_mb:
            text.append(f" of {view.budget_mb:,}M budget")
    return text


class OverviewPane(Pane):
    """Everything at a glance; the queue table's cursor picks the queue for p, + and -."""

    DEFAULT_CSS = """
    OverviewPane #queues {
        height: auto;
        max-height: 45%;
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

    def compose(self) -> ComposeResult:
        yield Static(classes="line", id="services")
        yield Static(classes="line", id="workers-summary")
        yield KeyedTable(QUEUE_COLUMNS, id="queues")
        with Horizontal(id="charts"):
            yield SeriesChart("depth", id="chart-depth")
            yield SeriesChart("throughput /s", id="chart-throughput")
            yield SeriesChart("failures /s", id="chart-failures")
        yield Static(classes="pane-status")

    def on_overview(self, overview: Overview) -> None:
        self.query_one("#services", Static).update(health_text(overview.services))
        self.query_one("#workers-summary", Static).update(workers_text(overview.workers))
        table = self.query_one("#queues", KeyedTable)
        table.set_rows([(q.name, queue_cells(q)) for q in overview.queues])
        charts = ("#chart-depth", "#chart-throughput", "#chart-failures")
        for chart_id, series in zip(charts, overview.charts, strict=False):
            self.query_one(chart_id, SeriesChart).series = series
        status = self.query_one(".pane-status", Static)
        if not overview.queues:
            status.update(Text("no queues yet: submit a job (queueconsole submit TYPE)"))
        else:
            status.update("")

    def selection(self) -> Selection:
        key = self.query_one("#queues", KeyedTable).selected_key
        return Selection(queue=str(key) if key is not None else None)
