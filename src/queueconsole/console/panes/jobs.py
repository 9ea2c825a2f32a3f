"""Jobs (``2``): one keyset page of jobs at a time, filterable, newest first.

The table never holds more than one page (:data:`~queueconsole.console.source.JOBS_PAGE`
rows): ``]`` reads the next older page with the last id as the cursor and
``[`` goes back, so paging costs the same at the millionth job as at the
first, and each refresh re-reads only the page on screen.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from engine.snapshots import JOB_SORT_COLUMNS, JobFilter, JobSort, JobSummary, SortKey
from queueconsole.console.filters import describe_filter
from queueconsole.console.messages import OpenJob, ReloadRequested
from queueconsole.console.model import JobsView, Selection
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import clock_time, literal, state_text
from queueconsole.console.widgets.filter_bar import FilterBar
from queueconsole.console.widgets.keyed_table import KeyedTable

JOB_COLUMNS = (
    ("id", "id"),
    ("state", "state"),
    ("type", "type"),
    ("queue", "queue"),
    ("priority", "prio"),
    ("attempts", "att"),
    ("created", "created"),
    ("error", "error / waiting on"),
)


def job_cells(job: JobSummary) -> tuple[object, ...]:
    """One job's row; every text that came from the job stays literal."""
    note = job.error_message or job.wait_reason or ""
    return (
        Text(str(job.id)),
        state_text(job.state),
        literal(job.type, one_line=True),
        literal(job.queue, one_line=True),
        Text(job.priority.label),
        Text(str(job.attempts)),
        Text(clock_time(job.created_at)),
        literal(note[:200], one_line=True),
    )


class JobsPane(Pane):
    """The job list; ``/`` filters, ``[``/``]`` page, ``enter`` opens a job."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("right_square_bracket", "older", "Older page", show=False),
        Binding("left_square_bracket", "newer", "Newer page", show=False),
    ]

    title = "Jobs"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = JobFilter()
        self.filter_text = ""
        self.sort = JobSort()
        self._cursors: list[SortKey | None] = [None]
        self._view: JobsView | None = None
        self._jobs: dict[int, JobSummary] = {}
        self._cells: dict[int, tuple[JobSummary, tuple[object, ...]]] = {}
        """Cells built for each job shown, rebuilt only when the job changed."""

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filter")
        yield Static(classes="pane-status", id="jobs-status")
        yield KeyedTable(
            JOB_COLUMNS,
            id="jobs-table",
            sortable=JOB_SORT_COLUMNS,
            server_sorted=True,
            sort=("id", True),
        )

    # -- data -----------------------------------------------------------------

    async def load(self, source: DataSource) -> JobsView:
        return await source.jobs(self.filter, self.sort, self._cursors[-1], len(self._cursors))

    def show(self, data: JobsView) -> None:
        if data.after != self._cursors[-1] or data.sort != self.sort:
            return  # an answer for a page (or an order) the user has already left
        if data == self._view:
            return  # nothing changed since the last refresh: draw nothing
        self._view = data
        cells = {}
        for job in data.page.items:
            known = self._cells.get(job.id)
            cells[job.id] = (
                known if known is not None and known[0] == job else (job, job_cells(job))
            )
        self._cells = cells
        self._jobs = {j.id: j for j in data.page.items}
        self.query_one(KeyedTable).set_rows([(j.id, cells[j.id][1]) for j in data.page.items])
        self._status()

    def _status(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        view = self._view
        shown = len(view.page.items) if view else 0
        text.append(f"page {len(self._cursors)}", style="bold")
        text.append(f" · {shown} job{'s' if shown != 1 else ''}")
        newest_first = self.sort == JobSort()
        if view is not None and view.page.next_after is not None:
            text.append(" · ] older" if newest_first else " · ] next")
        if len(self._cursors) > 1:
            text.append(" · [ newer" if newest_first else " · [ previous")
        if not newest_first:
            arrow = "▼" if self.sort.descending else "▲"
            text.append(f" · sort: {self.sort.column} {arrow} (s/S)")
        text.append(" · filter: ")
        text.append_text(literal(self.filter_text or "none (/ to filter)", one_line=True))
        self.query_one("#jobs-status", Static).update(text)

    def selection(self) -> Selection:
        key = self.query_one(KeyedTable).selected_key
        if key is None:
            return Selection()
        job = self._jobs.get(int(str(key)))
        if job is None:
            return Selection()
        return Selection(
            job_id=job.id, job_state=job.state, workflow_id=job.workflow_id, queue=job.queue
        )

    # -- actions ----------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_text)

    def action_older(self) -> None:
        view = self._view
        if view is None or view.page.next_after is None:
            self.notify("no older jobs", severity="information", markup=False)
            return
        self._cursors.append(view.page.next_after)
        self._reload()

    def action_newer(self) -> None:
        if len(self._cursors) == 1:
            self.notify("already on the newest page", markup=False)
            return
        self._cursors.pop()
        self._reload()

    def set_filter(self, flt: JobFilter, text: str | None = None) -> None:
        """Show jobs matching ``flt`` from the newest page."""
        self.filter = flt
        self.filter_text = describe_filter(flt) if text is None else text
        self._cursors = [None]
        self._reload()

    def _reload(self) -> None:
        self._status()
        self.post_message(ReloadRequested())

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        event.stop()
        self.set_filter(event.filter, event.text)
        self.query_one(KeyedTable).focus()

    @on(FilterBar.Closed)
    def _filter_closed(self, event: FilterBar.Closed) -> None:
        event.stop()
        self.query_one(KeyedTable).focus()

    @on(KeyedTable.SortChanged)
    def _sort_changed(self, event: KeyedTable.SortChanged) -> None:
        """Read the jobs again in the new order, from its first page (on the server)."""
        event.stop()
        column = event.column or "id"
        self.sort = JobSort(column, event.descending if event.column else True)
        self._cursors = [None]
        self._reload()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenJob(int(event.row_key.value)))
