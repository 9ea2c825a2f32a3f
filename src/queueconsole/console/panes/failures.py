"""Failures (``5``): failed jobs grouped by error; ``r`` retries one, ``R`` the group.

A job whose copy is in the broker's dead-letter queue says ``dead``; ``d`` and ``D``
replay the job or its group (and drop their copies), ``x`` purges the copies."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from engine.snapshots import FailureGroup, JobSummary
from engine.specs import DEFAULT_TENANT
from queueconsole.console.messages import OpenJob
from queueconsole.console.model import FailuresView, Selection
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import clock_time, literal, when
from queueconsole.console.widgets.keyed_table import KeyedTable

GROUP_COLUMNS = (
    ("count", "count"),
    ("error", "error"),
    ("queues", "queues"),
    ("first", "first seen"),
    ("last", "last seen"),
)

FAILED_COLUMNS = (
    ("id", "id"),
    ("type", "type"),
    ("queue", "queue"),
    ("attempts", "att"),
    ("finished", "failed at"),
    ("dead", "dlq"),
    ("error", "error"),
)


def with_tenants(where: str, tenants: tuple[str, ...]) -> str:
    """``queue`` and, when any is not the default tenant, whose jobs: ``mail (acme)``."""
    if not tenants or tenants == (DEFAULT_TENANT,):
        return where
    return f"{where} ({','.join(tenants)})"


def group_cells(g: FailureGroup) -> tuple[object, ...]:
    """One group's row: the error message is job text, so it stays literal."""
    message = literal(g.message, one_line=True)
    if g.error_type:
        message = Text.assemble(literal(g.error_type, "bold"), ": ", message)
    return (
        Text(f"{g.count:,}", style="bold red"),
        message,
        literal(with_tenants(",".join(g.queues), g.tenants)),
        Text(when(g.first_seen)),
        Text(when(g.last_seen)),
    )


def failed_cells(job: JobSummary, dead: bool = False) -> tuple[object, ...]:
    """One failed job of the selected group; ``dead``: its copy is in the dead-letter
    queue (a word, not a colour, so it reads without colour too)."""
    return (
        Text(str(job.id)),
        literal(job.type),
        literal(with_tenants(job.queue, (job.tenant,))),
        Text(str(job.attempts)),
        Text(clock_time(job.finished_at)),
        Text("dead", style="magenta") if dead else Text("-", style="dim"),
        literal(job.error_message or "", one_line=True),
    )


class FailuresPane(Pane):
    """Groups on top; the highlighted group's jobs below (enter opens one)."""

    DEFAULT_CSS = """
    FailuresPane #groups {
        height: 1fr;
    }
    FailuresPane #group-jobs {
        height: 1fr;
    }
    """

    title = "Failures"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._view = FailuresView()
        self._groups: dict[str, FailureGroup] = {}

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-status")
        yield KeyedTable(GROUP_COLUMNS, id="groups")
        yield KeyedTable(FAILED_COLUMNS, id="group-jobs")

    async def load(self, source: DataSource) -> FailuresView:
        return await source.failures()

    def show(self, data: FailuresView) -> None:
        self._view = data
        self._groups = {g.fingerprint: g for g in data.groups}
        self.query_one("#groups", KeyedTable).set_rows(
            [(g.fingerprint, group_cells(g)) for g in data.groups]
        )
        self._show_group_jobs()
        total = sum(g.count for g in data.groups)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{len(data.groups)} groups, {total:,} failed jobs", style="bold")
        if not data.complete:
            text.append(f" (newest {data.scanned:,} grouped)")
        if data.dead:
            text.append(f" · {len(data.dead):,} shown in the dead-letter queue")
        text.append(" · r retry · R retry group · d/D replay dead · x purge dead · enter open")
        self.query_one(".pane-status", Static).update(text)

    def _selected_group(self) -> FailureGroup | None:
        key = self.query_one("#groups", KeyedTable).selected_key
        return self._groups.get(str(key)) if key is not None else None

    def _show_group_jobs(self) -> None:
        group = self._selected_group()
        jobs = group.jobs if group is not None else ()
        dead = self._view.dead
        self.query_one("#group-jobs", KeyedTable).set_rows(
            [(j.id, failed_cells(j, j.id in dead)) for j in jobs]
        )

    @on(DataTable.RowHighlighted, "#groups")
    def _group_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_group_jobs()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "groups":
            self.query_one("#group-jobs", KeyedTable).focus()
        elif event.row_key.value is not None:
            self.post_message(OpenJob(int(event.row_key.value)))

    def selection(self) -> Selection:
        group = self._selected_group()
        job_key = self.query_one("#group-jobs", KeyedTable).selected_key
        job = None
        if group is not None and job_key is not None:
            job = next((j for j in group.jobs if str(j.id) == str(job_key)), None)
        return Selection(
            job_id=job.id if job else None,
            job_state=job.state if job else None,
            workflow_id=job.workflow_id if job else None,
            queue=job.queue if job else None,
            group=group,
        )
