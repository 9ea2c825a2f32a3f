"""A laid-out graph drawn as rows of styled cells: boxes, lines, arrows, legend.

Rows are produced one at a time for a window of columns, from indexes built
once per layout, so a widget draws only what is on screen and a 2,000-job
graph costs the same per frame as a 20-job one. Job states change far more
often than the shape of a workflow: :meth:`DagCanvas.with_graph` swaps the
job data and keeps the indexes.

Output is :class:`rich.segment.Segment` lists. Text from jobs (type names,
labels, wait reasons) goes into segments as it is, so it can never be read
as markup, and control characters are replaced so it cannot move the cursor.

Every state has a colour *and* a letter (:data:`STATE_LOOKS`, the one place
they are defined): without colour (``NO_COLOR``, 16-colour terminals, a
screen reader) the letter still tells states apart, and the selected box is
drawn with double lines, which needs no colour either.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style

from engine.snapshots import GraphNode, WorkflowGraph
from engine.states import State
from queueconsole.console.dag.layout import Box, Layout


@dataclass(frozen=True, slots=True)
class StateLook:
    """How a state is told apart on screen."""

    letter: str
    """Shown in the box and the legend; works without colour."""
    colour: str
    """A Rich colour among the 16 ANSI ones where possible, so it survives downsampling."""


STATE_LOOKS: Mapping[State, StateLook] = MappingProxyType(
    {
        State.PENDING: StateLook("P", "bright_blue"),
        State.QUEUED: StateLook("Q", "cyan"),
        State.RUNNING: StateLook("R", "yellow"),
        State.RETRYING: StateLook("Y", "magenta"),
        State.COMPLETED: StateLook("C", "green"),
        State.FAILED: StateLook("F", "red"),
        State.BLOCKED: StateLook("B", "dark_orange"),
        State.CANCELLED: StateLook("X", "bright_black"),
    }
)
"""Letter and colour of every job state."""

ARROW = "▶"
ELLIPSIS = "…"
_ROWS = 32  # rows per bucket of the vertical-line index
_COLUMNS = 64  # columns per bucket of every index: a frame reads only what it shows

_N, _E, _S, _W = 1, 2, 4, 8
_GLYPHS = {
    _N: "│",
    _S: "│",
    _N | _S: "│",
    _E: "─",
    _W: "─",
    _E | _W: "─",
    _E | _S: "┌",
    _W | _S: "┐",
    _N | _E: "└",
    _N | _W: "┘",
    _N | _S | _E: "├",
    _N | _S | _W: "┤",
    _E | _W | _S: "┬",
    _E | _W | _N: "┴",
    _N | _E | _S | _W: "┼",
}

# (top-left, top-right, bottom-left, bottom-right, horizontal, vertical, port to the right)
_FRAME_PLAIN = ("┌", "┐", "└", "┘", "─", "│", "├")
_FRAME_SELECTED = ("╔", "╗", "╚", "╝", "═", "║", "╟")
_FRAME_OUTSIDE = ("╭", "╮", "╰", "╯", "─", "│", "├")  # a job outside the workflow

EDGE = Style()
EDGE_DONE = Style(dim=True)  # its dependency completed: nothing is waiting on this line
EDGE_SELECTED = Style(color="cyan", bold=True)  # touches the selected job
LABEL = Style()
LABEL_SELECTED = Style(bold=True, reverse=True)
CHROME = Style(dim=True)

_CONTROL = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}


def clean(value: str) -> str:
    """Job text made safe for one line of a terminal: control characters become ``?``."""
    return value.translate(_CONTROL)


def fit(value: str, width: int) -> str:
    """``value`` in exactly ``width`` cells: cut with an ellipsis, or padded with spaces."""
    value = clean(value)
    if width <= 0:
        return ""
    if cell_len(value) > width:
        return set_cell_size(value, width - 1) + ELLIPSIS
    return set_cell_size(value, width)


_STATE_STYLES = {
    (state, bold): Style(color=look.colour, bold=bold)
    for state, look in STATE_LOOKS.items()
    for bold in (False, True)
}


def state_style(state: State, *, bold: bool = False) -> Style:
    """The colour of a state (one shared object per state, so runs merge by identity)."""
    return _STATE_STYLES[state, bold]


_Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Raster:
    """Where every line, arrow and box is, indexed by (row, column bucket).

    Built once per layout. A long line is listed in every bucket it crosses, so a
    window of a few buckets finds all it needs whatever the size of the drawing.
    """

    horizontal: Mapping[_Key, tuple[tuple[int, int, int], ...]]  # (row, xb) -> (x0, x1, route)
    vertical: Mapping[_Key, tuple[tuple[int, int, int, int], ...]]  # (yb, xb) -> (x, y0, y1, r)
    arrows: Mapping[_Key, tuple[tuple[int, int], ...]]  # (row, xb) -> (x, route)
    boxes: Mapping[_Key, tuple[Box, ...]]  # (row, xb) -> boxes there
    incident: Mapping[int, frozenset[int]]  # job -> routes touching it

    @staticmethod
    def build(layout: Layout) -> _Raster:
        horizontal: dict[_Key, list[tuple[int, int, int]]] = {}
        vertical: dict[_Key, list[tuple[int, int, int, int]]] = {}
        arrows: dict[_Key, list[tuple[int, int]]] = {}
        incident: dict[int, set[int]] = {}
        for r, route in enumerate(layout.routes):
            incident.setdefault(route.source, set()).add(r)
            incident.setdefault(route.target, set()).add(r)
            points = list(route.points)
            # The first run starts on the source's border, so its first cell joins the box.
            points[0] = (points[0][0] - 1, points[0][1])
            for (xa, ya), (xb, yb) in itertools.pairwise(points):
                if ya == yb:
                    x0, x1 = min(xa, xb), max(xa, xb)
                    for bx in range(x0 // _COLUMNS, x1 // _COLUMNS + 1):
                        horizontal.setdefault((ya, bx), []).append((x0, x1, r))
                else:
                    y0, y1 = min(ya, yb), max(ya, yb)
                    for by in range(y0 // _ROWS, y1 // _ROWS + 1):
                        vertical.setdefault((by, xa // _COLUMNS), []).append((xa, y0, y1, r))
            x, y = route.points[-1]
            arrows.setdefault((y, x // _COLUMNS), []).append((x, r))
        boxes: dict[_Key, list[Box]] = {}
        for box in layout.boxes.values():
            for bx in range(box.x // _COLUMNS, (box.x + box.width - 1) // _COLUMNS + 1):
                for y in range(box.y, box.y + box.height):
                    boxes.setdefault((y, bx), []).append(box)
        return _Raster(
            horizontal={k: tuple(v) for k, v in horizontal.items()},
            vertical={k: tuple(v) for k, v in vertical.items()},
            arrows={k: tuple(v) for k, v in arrows.items()},
            boxes={k: tuple(v) for k, v in boxes.items()},
            incident={k: frozenset(v) for k, v in incident.items()},
        )


class DagCanvas:
    """A laid-out graph with its jobs' current data, drawn row by row.

    Args:
        layout: where everything is.
        graph: the jobs to draw in the boxes; must hold every job of ``layout``.
    """

    def __init__(
        self, layout: Layout, graph: WorkflowGraph, *, _raster: _Raster | None = None
    ) -> None:
        self.layout = layout
        self.graph = graph
        self.width = layout.width
        self.height = layout.height
        self._raster = _raster if _raster is not None else _Raster.build(layout)
        self.nodes: Mapping[int, GraphNode] = MappingProxyType({n.id: n for n in graph.nodes})
        self._done = tuple(self.nodes[r.source].state is State.COMPLETED for r in layout.routes)

    def with_graph(self, graph: WorkflowGraph) -> DagCanvas:
        """The same drawing with new job data (same jobs and edges, new states)."""
        return DagCanvas(self.layout, graph, _raster=self._raster)

    def row(
        self, y: int, x0: int = 0, width: int | None = None, *, selected: int | None = None
    ) -> list[Segment]:
        """Row ``y`` of the drawing, columns ``x0`` to ``x0 + width``, as styled segments."""
        if width is None:
            width = self.width - x0
        if width <= 0:
            return []
        chars = [" "] * width
        styles: list[Style | None] = [None] * width
        if 0 <= y < self.height:
            buckets = range(max(x0, 0) // _COLUMNS, (x0 + width - 1) // _COLUMNS + 1)
            self._draw_lines(y, x0, buckets, chars, styles, selected)
            drawn: set[int] = set()
            for bx in buckets:
                for box in self._raster.boxes.get((y, bx), ()):
                    if box.id not in drawn:
                        drawn.add(box.id)
                        self._draw_box(box, y, x0, chars, styles, selected)
        return _segments(chars, styles)

    def plain(self, y: int, *, selected: int | None = None) -> str:
        """Row ``y`` as plain text without trailing spaces (tests, screenshots in text)."""
        return "".join(s.text for s in self.row(y, selected=selected)).rstrip()

    def lines(self, *, selected: int | None = None) -> list[str]:
        """The whole drawing as plain text."""
        return [self.plain(y, selected=selected) for y in range(self.height)]

    # -- drawing ------------------------------------------------------------

    def _draw_lines(
        self,
        y: int,
        x0: int,
        buckets: range,
        chars: list[str],
        styles: list[Style | None],
        selected: int | None,
    ) -> None:
        x1 = x0 + len(chars)
        raster = self._raster
        cells: dict[int, list[int]] = {}  # x -> [bits, any route selected, any route live]
        lit = raster.incident.get(selected, frozenset()) if selected is not None else frozenset()
        done = self._done

        def add(x: int, bits: int, r: int) -> None:
            cell = cells.get(x)
            if cell is None:
                cells[x] = [bits, r in lit, not done[r]]
            else:
                cell[0] |= bits
                cell[1] = cell[1] or r in lit
                cell[2] = cell[2] or not done[r]

        seen: set[tuple[int, int, int]] = set()
        for bx in buckets:
            for segment in raster.horizontal.get((y, bx), ()):
                if segment in seen:  # a long line is listed in every bucket it crosses
                    continue
                seen.add(segment)
                a, b, r = segment
                for x in range(max(a, x0), min(b, x1 - 1) + 1):
                    add(x, (_W if x > a else 0) | (_E if x < b else 0), r)
            for x, a, b, r in raster.vertical.get((y // _ROWS, bx), ()):
                if a <= y <= b and x0 <= x < x1:
                    add(x, (_N if y > a else 0) | (_S if y < b else 0), r)
        for x, (bits, is_lit, live) in cells.items():
            chars[x - x0] = _GLYPHS[bits]
            styles[x - x0] = EDGE_SELECTED if is_lit else EDGE if live else EDGE_DONE
        for bx in buckets:
            for x, r in raster.arrows.get((y, bx), ()):
                if x0 <= x < x1:
                    chars[x - x0] = ARROW
                    styles[x - x0] = EDGE_SELECTED if r in lit else EDGE_DONE if done[r] else EDGE

    def _draw_box(
        self,
        box: Box,
        y: int,
        x0: int,
        chars: list[str],
        styles: list[Style | None],
        selected: int | None,
    ) -> None:
        node = self.nodes[box.id]
        chosen = box.id == selected
        outside = self.graph.workflow_id is not None and node.workflow_id != self.graph.workflow_id
        tl, tr, bl, br, h, v, port = (
            _FRAME_SELECTED if chosen else _FRAME_OUTSIDE if outside else _FRAME_PLAIN
        )
        border = state_style(node.state, bold=chosen)
        inner = box.width - 2
        rel = y - box.y
        pieces: list[tuple[str, Style | None]]
        if rel == 0:
            tag = fit(f"#{node.id}", inner) if cell_len(f"#{node.id}") > inner else f"#{node.id}"
            pieces = [
                (tl, border),
                (tag, border),
                (h * (inner - cell_len(tag)), border),
                (tr, border),
            ]
        elif rel == box.height - 1:
            tries = f" ×{node.attempts}" if node.attempts > 1 else ""
            tries = tries if cell_len(tries) < inner else ""
            # A job named by its workflow shows the name inside and its type down here,
            # so twenty "etl.step" boxes are told apart and still say what they run.
            room = inner - len(tries) - 1
            kind = ""
            if node.label and room >= 2:
                kind = clean(node.type)
                kind = kind if cell_len(kind) <= room else fit(kind, room)
            pieces = [
                (bl, border),
                (kind, border),
                (h * (inner - cell_len(kind) - len(tries)), border),
                (tries, border),
                (br, border),
            ]
        elif rel == box.height // 2:
            look = STATE_LOOKS[node.state]
            letter = state_style(node.state, bold=True) + (LABEL_SELECTED if chosen else LABEL)
            label = fit(node.label or node.type, inner - 2)
            right = port if self.layout.successors.get(box.id) else v
            pieces = [
                (v, border),
                (look.letter, letter),
                (" ", LABEL_SELECTED if chosen else None),
                (label, LABEL_SELECTED if chosen else LABEL),
                (right, border),
            ]
        else:  # boxes taller than three rows
            blank = " " * inner
            pieces = [(v, border), (blank, LABEL_SELECTED if chosen else None), (v, border)]
        _place(pieces, box.x - x0, chars, styles)


def _place(
    pieces: Iterable[tuple[str, Style | None]],
    at: int,
    chars: list[str],
    styles: list[Style | None],
) -> None:
    """Write pieces of text from cell ``at`` of a row window, cropping at its edges.

    A piece wider than one cell goes into its first cell and leaves the others empty
    (joined, the row keeps its width even with wide characters in job text).
    """
    width = len(chars)
    for text, style in pieces:
        cells = cell_len(text)
        if cells == 0:
            continue
        start, end = at, at + cells
        at = end
        if end <= 0 or start >= width:
            continue
        if start < 0 or end > width:  # crop to the window, cell-accurately
            segment = Segment(text)
            if start < 0:
                segment = segment.split_cells(-start)[1]
                start = 0
            if end > width:
                segment = segment.split_cells(width - start)[0]
                end = width
            text = segment.text
        chars[start] = text
        styles[start] = style
        for i in range(start + 1, end):
            chars[i] = ""
            styles[i] = style


def _segments(chars: list[str], styles: list[Style | None]) -> list[Segment]:
    """Runs of cells with the same style, merged into segments."""
    out: list[Segment] = []
    run: list[str] = []
    current: Style | None = styles[0] if styles else None
    for ch, st in zip(chars, styles, strict=True):
        if st is not current:
            out.append(Segment("".join(run), current))
            run, current = [], st
        run.append(ch)
    if run:
        out.append(Segment("".join(run), current))
    return out


# -- chrome ---------------------------------------------------------------------


def title(graph: WorkflowGraph) -> str:
    """What the graph is: the workflow's name, or where it came from."""
    if graph.name:
        return clean(graph.name)
    if graph.workflow_id is not None:
        return f"workflow {graph.workflow_id}"
    return "dependencies"


def legend(graph: WorkflowGraph, width: int | None = None) -> list[Segment]:
    """The header: title, size, and each state present with its letter, name and count.

    Narrower than ``width``, it drops the title first, then the state names (the footer
    still names the state of the selected job).
    """
    counts = {s: 0 for s in State}
    for n in graph.nodes:
        counts[n.state] += 1
    jobs = len(graph.nodes)
    size = f"first {jobs} jobs" if graph.truncated else f"{jobs} job{'s' if jobs != 1 else ''}"
    head = [Segment(title(graph), Style(bold=True)), Segment(f" · {size}", CHROME)]
    present = [(state, count) for state, count in counts.items() if count]

    def states(named: bool) -> list[Segment]:
        out: list[Segment] = []
        for state, count in present:
            out += [
                Segment("  "),
                Segment(STATE_LOOKS[state].letter, state_style(state, bold=True)),
                Segment(f" {state.value} {count}" if named else f" {count}"),
            ]
        return out

    full = head + states(True)
    if width is None or Segment.get_line_length(full) <= width:
        return full
    named = [Segment(size, CHROME), *states(True)]
    if Segment.get_line_length(named) <= width:
        return named
    return head + states(False)


def legend_all() -> list[Segment]:
    """Every letter and the state it stands for (the help text)."""
    out: list[Segment] = []
    for state, look in STATE_LOOKS.items():
        if out:
            out.append(Segment("  "))
        out += [Segment(look.letter, state_style(state, bold=True)), Segment(f" {state.value}")]
    return out


def describe(node: GraphNode | None, graph: WorkflowGraph | None) -> list[Segment]:
    """The footer: what the selected job is, since a box only has room for its type."""
    if node is None or graph is None:
        return [Segment("no job selected", CHROME)]
    look = STATE_LOOKS[node.state]
    out = [
        Segment(f"#{node.id} ", Style(bold=True)),
        Segment(clean(node.type), Style(bold=True)),
        Segment("  "),
        Segment(look.letter, state_style(node.state, bold=True)),
        Segment(f" {node.state.value}", state_style(node.state)),
        Segment(f" · queue {clean(node.queue)}", CHROME),
    ]
    if node.attempts:
        out.append(Segment(f" · attempt {node.attempts}", CHROME))
    if node.started_at is not None and node.finished_at is not None:
        seconds = (node.finished_at - node.started_at).total_seconds()
        out.append(Segment(f" · ran {duration(seconds)}", CHROME))
    elif node.started_at is not None:
        out.append(Segment(f" · started {_clock(node.started_at)}", CHROME))
    if graph.workflow_id is not None and node.workflow_id != graph.workflow_id:
        out.append(Segment(" · outside this workflow", CHROME))
    if node.wait_reason:
        out.append(Segment(f" · {clean(node.wait_reason)}"))
    return out


def duration(seconds: float) -> str:
    """A short human duration: 850ms, 3.2s, 4m05s, 2h03m."""
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S %Z").strip()
