"""DAG (``3``, or ``g`` from a job): the workflow of the selected job, drawn as a graph.

The graph is drawn by :class:`~queueconsole.console.dag.widget.DagView` from
``Client.workflow_graph`` snapshots; the arrow keys walk its edges, ``enter``
opens a job and r/c act on the selected one.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine.snapshots import WorkflowGraph
from queueconsole.console.dag.widget import DagView
from queueconsole.console.messages import OpenJob
from queueconsole.console.model import Selection
from queueconsole.console.panes.base import Pane
from queueconsole.console.source import DataSource
from queueconsole.console.text import literal


class DagPane(Pane):
    """The selected workflow; ``g`` on any job brings it here."""

    title = "DAG"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_id: int | None = None
        self.workflow_id: int | None = None
        self._graph: WorkflowGraph | None = None
        self._select_next: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-status", id="dag-status")
        yield DagView(id="dag-view")

    @property
    def view(self) -> DagView:
        """The graph widget."""
        return self.query_one("#dag-view", DagView)

    def on_mount(self) -> None:
        self._status()

    def show_job(self, job_id: int, workflow_id: int | None) -> None:
        """Show the workflow ``job_id`` belongs to, with the cursor on that job."""
        self.job_id = job_id
        self.workflow_id = workflow_id
        self._select_next = job_id
        self._status()
        self.view.focus()

    def _status(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        graph = self._graph
        if graph is not None:
            # The view's own legend names the workflow and counts its jobs.
            if graph.workflow_id is not None:
                text.append(f"workflow {graph.workflow_id}", style="bold")
                if graph.name:
                    text.append(" ")
                    text.append_text(literal(graph.name, one_line=True))
                if self.job_id is None:
                    text.append(" (newest with live jobs, else newest; g on a job picks one)")
            else:
                text.append(f"jobs connected to job {self.job_id}", style="bold")
            if graph.truncated:
                text.append(" (cut: too many jobs to draw)")
            text.append(" · arrows follow edges · enter opens · r / c act on the selected job")
        elif self.job_id is None:
            text.append("no workflow yet: submit one, or press g on a job", style="italic")
        else:
            text.append(f"job {self.job_id}: reading its graph…", style="italic")
        self.query_one("#dag-status", Static).update(text)

    async def load(self, source: DataSource) -> WorkflowGraph | None:
        if self.job_id is None:
            return await source.default_graph()
        return await source.graph(self.job_id)

    def show(self, data: WorkflowGraph | None) -> None:
        if data is None:
            if self.job_id is None and self._graph is not None:
                self._graph = None  # the default workflow was pruned: say there is none
                self.view.show(None)
                self._status()
            return
        self._graph = data
        wanted, self._select_next = self._select_next, None
        self.view.show(data, job_id=wanted)
        self._status()

    def selection(self) -> Selection:
        node = self.view.selected_node
        if node is None:
            return Selection(workflow_id=self.workflow_id)
        return Selection(
            job_id=node.id, job_state=node.state, workflow_id=node.workflow_id, queue=node.queue
        )

    def on_dag_view_job_selected(self, event: DagView.JobSelected) -> None:
        """``enter`` on a box of the graph opens that job."""
        event.stop()
        self.post_message(OpenJob(event.job_id))
