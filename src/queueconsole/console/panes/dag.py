"""DAG (``3``, or ``g`` from a job): the workflow of the selected job, drawn as a graph.

The graph is drawn by ``queueconsole.console.dag.widget.DagView`` (found
through the backend adapter) from ``Client.workflow_graph`` snapshots; the
arrow keys walk its edges, ``enter`` opens a job and r/c act on the selected
one. Where that widget is not installed the pane lists the workflow's jobs in
id order instead, which is still enough to act on them.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from engine.snapshots import JobSummary
from queueconsole.console.backend import dag_view_class
from queueconsole.console.messages import OpenJob
from queueconsole.console.model import Selection, WorkflowView
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import clock_time, literal, state_text
from queueconsole.console.widgets.keyed_table import KeyedTable

WORKFLOW_COLUMNS = (
    ("id", "id"),
    ("state", "state"),
    ("type", "type"),
    ("queue", "queue"),
    ("attempts", "att"),
    ("finished", "finished"),
    ("note", "error / waiting on"),
)


def workflow_cells(job: JobSummary) -> tuple[object, ...]:
    """One job of the workflow."""
    return (
        Text(str(job.id)),
        state_text(job.state),
        literal(job.type),
        literal(job.queue),
        Text(str(job.attempts)),
        Text(clock_time(job.finished_at)),
        literal(job.error_message or job.wait_reason or "", one_line=True),
    )


class DagPane(Pane):
    """The selected workflow; ``g`` on any job brings it here."""

    title = "DAG"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_id: int | None = None
        self.workflow_id: int | None = None
        self._jobs: dict[int, JobSummary] = {}
        self._graph: Any | None = None
        self._select_next: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-status", id="dag-status")
        view_cls = dag_view_class()
        if view_cls is not None:
            yield view_cls(id="dag-view")
        else:
            yield KeyedTable(WORKFLOW_COLUMNS, id="workflow-jobs")

    @property
    def view(self) -> Any | None:
        """The mounted DagView, or None when the list stands in for it."""
        views = self.query("#dag-view")
        return views.first() if views else None

    def on_mount(self) -> None:
        self._status()

    def show_job(self, job_id: int, workflow_id: int | None) -> None:
        """Show the workflow ``job_id`` belongs to, with the cursor on that job."""
        self.job_id = job_id
        self.workflow_id = workflow_id
        self._select_next = job_id
        self._status()
        if self.view is not None:
            self.view.focus()

    def _status(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        graph = self._graph
        if graph is not None:
            # The view's own legend names the workflow and counts its jobs.
            if graph.workflow_id is not None:
                text.append(f"workflow {graph.workflow_id}", style="bold")
            else:
                text.append(f"jobs connected to job {self.job_id}", style="bold")
            if graph.truncated:
                text.append(" (cut: too many jobs to draw)")
            text.append(" · arrows follow edges · enter opens · r / c act on the selected job")
        elif self.job_id is None:
            text.append("no workflow selected: pick a job (2 Jobs) and press g", style="italic")
        elif self.view is not None:
            text.append(f"job {self.job_id}: reading its graph…", style="italic")
        elif self.workflow_id is None:
            text.append("no workflow selected: pick a job (2 Jobs) and press g", style="italic")
        else:
            text.append(f"workflow {self.workflow_id}", style="bold")
            text.append(f" · {len(self._jobs)} jobs")
            if dag_view_class() is None:
                text.append(" · graph view not installed: jobs listed in id order")
        self.query_one("#dag-status", Static).update(text)

    async def load(self, source: DataSource) -> Any | None:
        if self.view is not None:
            return None if self.job_id is None else await source.graph(self.job_id)
        if self.workflow_id is None:
            return None
        return await source.workflow(self.workflow_id)

    def show(self, data: Any | None) -> None:
        view = self.view
        if view is not None:
            if data is None:
                return
            self._graph = data
            wanted, self._select_next = self._select_next, None
            view.show(data, job_id=wanted)
            self._status()
            return
        if not isinstance(data, WorkflowView) or data.workflow_id != self.workflow_id:
            return
        self._jobs = {j.id: j for j in data.jobs}
        table = self.query_one("#workflow-jobs", KeyedTable)
        first = not table.row_keys
        table.set_rows([(j.id, workflow_cells(j)) for j in data.jobs])
        if first and self.job_id is not None:
            table.select_key(self.job_id)
        self._status()

    def selection(self) -> Selection:
        view = self.view
        if view is not None:
            node = view.selected_node
            if node is None:
                return Selection(workflow_id=self.workflow_id)
            return Selection(
                job_id=node.id, job_state=node.state, workflow_id=node.workflow_id, queue=node.queue
            )
        key = self.query_one("#workflow-jobs", KeyedTable).selected_key
        job = self._jobs.get(int(str(key))) if key is not None else None
        if job is None:
            return Selection(workflow_id=self.workflow_id)
        return Selection(
            job_id=job.id, job_state=job.state, workflow_id=job.workflow_id, queue=job.queue
        )

    def on_dag_view_job_selected(self, event: Any) -> None:
        """``enter`` on a box of the graph opens that job."""
        event.stop()
        self.post_message(OpenJob(event.job_id))

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenJob(int(event.row_key.value)))
