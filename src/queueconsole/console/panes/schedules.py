"""Schedules (``6``): every cron schedule, when it fires next and last, what it missed.

``p`` pauses or resumes the schedule under the cursor, ``f`` fires it now (out of turn,
after a confirmation; its cron ticks go on as before) and ``enter`` opens the job its
last fire submitted. Missed ticks are those that passed while no engine ran: a
schedule that keeps missing says the installation had no engine up when it was due.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from engine.client import ScheduleInfo
from queueconsole.console.messages import OpenJob
from queueconsole.console.model import SchedulesView, Selection
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import age, clock_time, literal
from queueconsole.console.widgets.keyed_table import KeyedTable

SCHEDULE_COLUMNS = (
    ("name", "schedule"),
    ("state", "state"),
    ("cron", "cron"),
    ("next", "next fire"),
    ("last", "last fire"),
    ("job", "last job"),
    ("missed", "missed"),
    ("type", "type"),
    ("queue", "queue"),
)


def schedule_cells(s: ScheduleInfo, missed: int, now: datetime) -> tuple[object, ...]:
    """One schedule's row; names, types and crons came from users and stay literal."""
    cron = s.cron if s.tz == "UTC" else f"{s.cron} ({s.tz})"
    if s.paused:
        state, upcoming = Text("paused", style="yellow"), Text("-")
    else:
        state = Text("active", style="green")
        upcoming = Text(f"in {age(now, s.next_fire_at)} {clock_time(s.next_fire_at)}")
    last = Text("never") if s.last_tick is None else Text(f"{age(s.last_tick, now)} ago")
    return (
        literal(s.name, one_line=True),
        state,
        literal(cron, one_line=True),
        upcoming,
        last,
        Text("-" if s.last_job_id is None else str(s.last_job_id)),
        Text(f"{missed:,}", style="bold yellow" if missed else ""),
        literal(s.type, one_line=True),
        literal(s.queue, one_line=True),
    )


class SchedulesPane(Pane):
    """The schedules table and a line saying what the keys do."""

    title = "Schedules"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._view: SchedulesView | None = None
        self._by_name: dict[str, ScheduleInfo] = {}
        self._now: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-status", id="schedules-status")
        yield KeyedTable(SCHEDULE_COLUMNS, id="schedules-table")

    async def load(self, source: DataSource) -> tuple[SchedulesView, datetime]:
        return await source.schedules(), source.clock()

    def show(self, data: tuple[SchedulesView, datetime]) -> None:
        view, now = data
        self._view, self._now = view, now
        self._by_name = {s.name: s for s in view.schedules}
        rows = [(s.name, schedule_cells(s, view.missed_for(s.name), now)) for s in view.schedules]
        self.query_one(KeyedTable).set_rows(rows)
        self._status()

    def _status(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        view = self._view
        if view is None or not view.schedules:
            text.append(
                "no schedules: queueconsole schedule add NAME TYPE --cron EXPR", style="italic"
            )
        else:
            paused = sum(1 for s in view.schedules if s.paused)
            text.append(f"{len(view.schedules)} schedules", style="bold")
            if paused:
                text.append(f" · {paused} paused")
            text.append(" · p pause/resume · f fire now · enter opens the last job")
        self.query_one("#schedules-status", Static).update(text)

    def selection(self) -> Selection:
        key = self.query_one(KeyedTable).selected_key
        schedule = self._by_name.get(str(key)) if key is not None else None
        if schedule is None:
            return Selection()
        return Selection(job_id=schedule.last_job_id, schedule=schedule)

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        schedule = self._by_name.get(str(event.row_key.value))
        if schedule is None:
            return
        if schedule.last_job_id is None:
            self.notify(f"schedule {schedule.name} has not fired yet", markup=False)
            return
        self.post_message(OpenJob(schedule.last_job_id))
