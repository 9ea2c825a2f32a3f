"""The DAG view: a workflow drawn as a layered graph, navigated along its edges.

A Line API widget (:class:`~textual.scroll_view.ScrollView`): only the rows on
screen are drawn, each cut to the visible columns, so scrolling a 2,000-job
drawing costs what scrolling a 20-job one does. The first row is a legend
(every state shown, its letter, how many jobs are in it) and the last row
describes the selected job; both stay put while the drawing scrolls.

Data arrives as :class:`~engine.readapi.graph.WorkflowGraph` snapshots through
:meth:`DagView.show` (or the ``graph`` reactive). A snapshot with the same jobs
and edges as the one on screen only changes what the boxes say: the layout,
the selection and the scroll position stay. A new shape is laid out again —
in a worker thread above :data:`INLINE_LAYOUT_JOBS` jobs so the UI never waits
on it — and the selected job stays where it was on screen if it still exists.

Keys: ``right`` follows an edge to a dependent, ``left`` to a dependency
(going back retraces the step), ``up``/``down`` move within a column,
``home`` goes to the first job, ``enter`` posts :class:`DagView.JobSelected`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual import events, work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from engine.snapshots import GraphNode, WorkflowGraph
from queueconsole.console.dag.layout import Direction, Layout, layout
from queueconsole.console.dag.render import CHROME, DagCanvas, describe, legend

INLINE_LAYOUT_JOBS = 300  # above this many jobs the layout runs in a worker thread
HEADER_ROWS = 1  # the legend
FOOTER_ROWS = 1  # the selected job
REVEAL_MARGIN = (4, 1)  # cells (across, down) kept around a selected box when scrolling to it

_OPPOSITE: dict[str, Direction] = {"left": "right", "right": "left", "up": "down", "down": "up"}

_Shape = tuple[frozenset[int], frozenset[tuple[int, int]]]


def _shape(graph: WorkflowGraph) -> _Shape:
    """What the layout depends on: which jobs and which edges, nothing about their state."""
    return frozenset(n.id for n in graph.nodes), frozenset(graph.edges)


class DagView(ScrollView, can_focus=True):
    """A workflow's dependency graph: boxes for jobs, lines for edges, arrow keys to walk it."""

    DEFAULT_CSS = """
    DagView {
        background: $surface;
        &:focus {
            background-tint: $foreground 5%;
        }
        & > .dag-view--header {
            background: $panel;
        }
        & > .dag-view--footer {
            background: $panel;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"dag-view--header", "dag-view--footer"}

    HELP: ClassVar[str | None] = """\
## Workflow graph

Jobs are boxes, dependencies are lines: work flows left to right, from a job to
the jobs that wait for it. The letter in a box is its state:
**P** pending, **Q** queued, **R** running, **Y** retrying, **C** completed,
**F** failed, **B** blocked, **X** cancelled. Rounded corners: a job outside
this workflow that it is wired to. Double lines: the selected job; its lines
are bright.

- `→` a job that waits for this one, `←` one this job waits for
- `↑` `↓` the next job in the same column
- `home` the first job, `enter` open the job
- `shift+arrows`, `page up/down`, the mouse wheel: scroll without moving
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move('left')", "Dependency", show=False),
        Binding("right", "move('right')", "Dependent", show=False),
        Binding("up", "move('up')", "Above", show=False),
        Binding("down", "move('down')", "Below", show=False),
        Binding("home", "root", "First job"),
        Binding("enter", "open", "Open job"),
        Binding("shift+left", "scroll_left", "Scroll left", show=False),
        Binding("shift+right", "scroll_right", "Scroll right", show=False),
        Binding("shift+up", "scroll_up", "Scroll up", show=False),
        Binding("shift+down", "scroll_down", "Scroll down", show=False),
    ]

    class JobSelected(Message):
        """``enter`` on a job: the app opens its detail."""

        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id
            """The job the user chose."""

    class JobHighlighted(Message):
        """The selection moved (keys, mouse, a new graph): actions apply to this job."""

        def __init__(self, job_id: int | None) -> None:
            super().__init__()
            self.job_id = job_id
            """The selected job, or None when nothing is shown."""

    graph: var[WorkflowGraph | None] = var(None, always_update=False)
    """The graph on screen; set it (or call :meth:`show`) with each new snapshot."""

    def __init__(
        self,
        graph: WorkflowGraph | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """A DAG view.

        Args:
            graph: what to show first (or nothing until :meth:`show`).
            name: the widget's name.
            id: the widget's DOM id.
            classes: CSS classes.
            disabled: start disabled.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._layout: Layout | None = None
        self._shape: _Shape | None = None
        self._canvas: DagCanvas | None = None
        self._selected: int | None = None
        self._wanted: int | None = None  # a job to select as soon as a layout holds it
        self._back: dict[tuple[int, str], int] = {}  # (job, direction) -> the job we came from
        self._pending_jobs = 0  # jobs of a layout running in a worker, for the footer
        if graph is not None:
            self.set_reactive(DagView.graph, graph)

    def on_mount(self) -> None:
        if self.graph is not None and self._canvas is None and not self._pending_jobs:
            self._graph_changed(self.graph)

    # -- public interface ---------------------------------------------------

    @property
    def selected(self) -> int | None:
        """The selected job, if any."""
        return self._selected

    @property
    def selected_node(self) -> GraphNode | None:
        """The selected job as last drawn (state, queue, workflow), for the app's actions."""
        if self._canvas is None or self._selected is None:
            return None
        return self._canvas.nodes.get(self._selected)

    @property
    def current_layout(self) -> Layout | None:
        """Where everything is drawn (tests and the screenshot script read it)."""
        return self._layout

    def show(self, graph: WorkflowGraph | None, *, job_id: int | None = None) -> None:
        """Draw ``graph``; with ``job_id``, select that job and center it."""
        if job_id is not None:
            self._wanted = job_id
        if graph is not None and graph == self.graph:
            if job_id is not None:
                self.select(job_id)
            return
        self.graph = graph

    def select(self, job_id: int) -> bool:
        """Select a job and scroll it to the middle of the view (``g`` from elsewhere).

        Returns False if the graph on screen does not hold it (yet: a graph being laid
        out in the background will select it when it is ready).
        """
        if self._layout is None or job_id not in self._layout.boxes:
            self._wanted = job_id
            return False
        self._wanted = None
        self._set_selected(job_id)
        self._scroll_to_job(job_id, center=True)
        return True

    def text_lines(self) -> list[str]:
        """The whole drawing as plain text, selection included (no legend or footer)."""
        if self._canvas is None:
            return []
        return self._canvas.lines(selected=self._selected)

    # -- graph changes ------------------------------------------------------

    def watch_graph(self, graph: WorkflowGraph | None) -> None:
        self._graph_changed(graph)

    def _graph_changed(self, graph: WorkflowGraph | None) -> None:
        if graph is None:
            self._layout = self._canvas = self._shape = None
            self._back.clear()
            self._set_selected(None)
            self.virtual_size = Size(0, HEADER_ROWS + FOOTER_ROWS)
            self.refresh()
            return
        shape = _shape(graph)
        if shape == self._shape and self._canvas is not None:
            # Same jobs, same edges: only states changed. Keep everything else.
            self._canvas = self._canvas.with_graph(graph)
            if self._wanted is not None:
                self.select(self._wanted)
            self.refresh()
            return
        if len(graph.nodes) <= INLINE_LAYOUT_JOBS:
            self._apply_layout(graph, shape, layout(graph))
        else:
            self._pending_jobs = len(graph.nodes)
            self.refresh()
            self._layout_in_background(graph, shape)

    @work(thread=True, exclusive=True, group="dag-layout", exit_on_error=False)
    def _layout_in_background(self, graph: WorkflowGraph, shape: _Shape) -> None:
        laid = layout(graph)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._apply_layout, graph, shape, laid)

    def _apply_layout(self, graph: WorkflowGraph, shape: _Shape, laid: Layout) -> None:
        if graph is not self.graph:  # a newer snapshot arrived while this one was laid out
            return
        self._pending_jobs = 0
        old = self._layout
        anchor = None
        if old is not None and self._selected is not None and self._selected in old.boxes:
            box = old.boxes[self._selected]
            anchor = (box.x - self.scroll_offset.x, box.y - self.scroll_offset.y)
        self._layout, self._shape = laid, shape
        self._canvas = DagCanvas(laid, graph)
        self._back.clear()
        self.virtual_size = Size(laid.width, laid.height + HEADER_ROWS + FOOTER_ROWS)
        if self._wanted is not None and self._wanted in laid.boxes:
            self.call_after_refresh(self.select, self._wanted)
            self._set_selected(self._wanted)
        elif self._selected is not None and self._selected in laid.boxes and anchor is not None:
            box = laid.boxes[self._selected]
            self.call_after_refresh(
                self.scroll_to, box.x - anchor[0], box.y - anchor[1], animate=False
            )
            self.refresh()
        else:
            self._set_selected(laid.root)
            self.call_after_refresh(self.scroll_to, 0, 0, animate=False)
        self.refresh()

    # -- selection ----------------------------------------------------------

    def _set_selected(self, job_id: int | None) -> None:
        if job_id == self._selected:
            return
        self._selected = job_id
        self.refresh()
        self.post_message(self.JobHighlighted(job_id))

    def _scroll_to_job(self, job_id: int, *, center: bool = False) -> None:
        """Bring a job's box into view: centered, or by the least scrolling."""
        if self._layout is None:
            return
        box = self._layout.boxes[job_id]
        view = self.scrollable_content_region
        rows = max(1, view.height - HEADER_ROWS - FOOTER_ROWS)
        x, y = self.scroll_offset
        if center:
            x = box.x + box.width // 2 - view.width // 2
            y = box.y + box.height // 2 - rows // 2
        else:
            mx, my = REVEAL_MARGIN
            if box.x - mx < x:
                x = box.x - mx
            elif box.x + box.width + mx > x + view.width:
                x = box.x + box.width + mx - view.width
            if box.y - my < y:
                y = box.y - my
            elif box.y + box.height + my > y + rows:
                y = box.y + box.height + my - rows
        self.scroll_to(max(0, x), max(0, y), animate=False)

    def action_move(self, direction: Direction) -> None:
        """Follow an edge (left/right) or move within the column (up/down)."""
        if self._layout is None or self._selected is None:
            return
        here = self._selected
        there = self._layout.neighbour(here, direction, prefer=self._back.get((here, direction)))
        if there == here:
            return
        self._back[(there, _OPPOSITE[direction])] = here
        self._set_selected(there)
        self._scroll_to_job(there)

    def action_root(self) -> None:
        """Select the first job (top of the first column)."""
        if self._layout is not None and self._layout.root is not None:
            self._set_selected(self._layout.root)
            self._scroll_to_job(self._layout.root)

    def action_open(self) -> None:
        """Ask the app to open the selected job."""
        if self._selected is not None:
            self.post_message(self.JobSelected(self._selected))

    def on_click(self, event: events.Click) -> None:
        """A click selects the box under it; a double click opens it."""
        offset = event.get_content_offset(self)
        if offset is None or self._layout is None:
            return
        x = self.scroll_offset.x + offset.x
        y = self.scroll_offset.y + offset.y - HEADER_ROWS
        job = self._layout.box_at(x, y)
        if job is None:
            return
        self._set_selected(job)
        if event.chain >= 2:
            self.post_message(self.JobSelected(job))

    def on_resize(self, event: events.Resize) -> None:
        if self._selected is not None:
            self.call_after_refresh(self._scroll_to_job, self._selected)

    # -- drawing ------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """One row of the view: the legend, a row of the drawing, or the footer."""
        view = self.scrollable_content_region
        width = view.width
        base = self.rich_style
        if y < HEADER_ROWS:
            return self._chrome(self._header(width), width, "dag-view--header")
        if view.height > HEADER_ROWS + FOOTER_ROWS and y >= view.height - FOOTER_ROWS:
            return self._chrome(self._footer(), width, "dag-view--footer")
        if self._canvas is None:
            return Strip.blank(width, base)
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y - HEADER_ROWS
        segments = self._canvas.row(row, scroll_x, width, selected=self._selected)
        return Strip(segments, width).apply_style(base)

    def _chrome(self, segments: list[Segment], width: int, component: str) -> Strip:
        style = self.rich_style + self.get_component_rich_style(component)
        strip = Strip(segments).crop(0, width).extend_cell_length(width)
        return strip.apply_style(style)

    def _header(self, width: int) -> list[Segment]:
        if self.graph is None:
            return [Segment("no workflow shown", CHROME)]
        return legend(self.graph, width)

    def _footer(self) -> list[Segment]:
        if self._pending_jobs:
            return [Segment(f"laying out {self._pending_jobs:,} jobs…", CHROME)]
        if self._canvas is None or self._selected is None:
            return describe(None, None)
        return describe(self._canvas.nodes.get(self._selected), self._canvas.graph)
