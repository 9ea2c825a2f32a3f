"""Layered layout of a dependency graph in character cells (Sugiyama-style).

Pure geometry: no Textual, no styles, no job data beyond ids and edges, so it is
tested and benchmarked on its own and runs in a worker thread if a graph is big.

Direction: left to right. Layers become columns and work flows the way text
is read, a job to the right of what it waits for. Terminals are wider than
they are tall, a box holds a type name on one line, and lines between
columns are mostly horizontal, which box-drawing characters draw best.

The steps, each linear or near-linear in nodes + edges:

1. **Layers** — longest path, from the sources and from the sinks, whichever
   needs fewer virtual points; then a node with more dependents than
   dependencies moves right next to its first dependent (a root only the last
   step needs sits beside it, not in column 0), and the reverse to the left.
2. **Virtual points** — an edge spanning k columns becomes a chain through
   k-1 virtual points, drawn as a line passing through the columns between.
3. **Order** — barycenter sweeps, down then up, each followed by swaps of
   neighbours that remove crossings, from two starting orders (by id, and
   depth first); the order with the fewest crossings seen (the initial one
   included) wins, so the sweeps can never make a drawing worse.
4. **Rows** — per column, each node wants the mean row of its neighbours
   (straight chains of virtual points weigh 8, as in dot); the closest
   placement that keeps the order and the gaps is a weighted isotonic
   regression, solved exactly by pool-adjacent-violators in linear time.
5. **Channels** — between two columns each node's fan-out gets one vertical
   trunk on a track; tracks are assigned greedily so trunks never overlap and
   no line runs along a line of an edge it does not share a job with (where
   two such rules contradict, a short detour on a free row, opening one if
   none is free). Lines of unrelated edges only ever cross at right angles.
   The channel is as wide as its tracks need.
6. **Routes** — each edge becomes an orthogonal polyline in cells, from the
   cell right of its source box to the cell left of its target box (where
   the renderer draws the arrow).

Deterministic: ids are sorted first and every tie breaks on position, so the
same graph always gets the same drawing, whatever order it arrived in.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol

BOX_WIDTH = 20  # cells, borders included: "#id" on the top border, "S type…" inside
BOX_HEIGHT = 3  # rows: top border, one line of content, bottom border
BOX_GAP = 1  # blank rows between two boxes of a column
MIN_CHANNEL = 4  # cells between two columns: stub, line, arrow
SWEEPS = 8  # barycenter passes (one down + one up each); 0 keeps the input order
TRANSPOSE_PASSES = 4  # rounds of neighbour swaps after each sweep, at most
MAX_OPENED_ROWS = 64  # rounds of opening blank rows for detours (each round opens several)
ROW_PASSES = 4  # row-placement passes (one down + one up each) before the final one

_WEIGHT_REAL = 1.0  # pull of an edge between two jobs on each other's rows
_WEIGHT_MIXED = 2.0  # ... between a job and a virtual point
_WEIGHT_VIRTUAL = 8.0  # ... along a long edge: keep it straight
_WEIGHT_LONE = 1e-3  # a node with no neighbour on the reference side stays put

Direction = Literal["left", "right", "up", "down"]


class NodeLike(Protocol):
    """What the layout needs of a node: its id."""

    @property
    def id(self) -> int: ...


class GraphLike(Protocol):
    """What the layout needs of a graph (``engine.readapi.graph.WorkflowGraph`` fits)."""

    @property
    def nodes(self) -> Sequence[NodeLike]: ...

    @property
    def edges(self) -> Sequence[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class LayoutOptions:
    """Sizes and effort; the defaults fit an 80-column terminal three columns wide."""

    box_width: int = BOX_WIDTH
    """Cells across a box, borders included."""
    box_height: int = BOX_HEIGHT
    """Rows down a box; the edges attach to the middle one."""
    box_gap: int = BOX_GAP
    """Blank rows between boxes (and between a box and a passing line)."""
    min_channel: int = MIN_CHANNEL
    """Narrowest gap between two columns."""
    sweeps: int = SWEEPS
    """Crossing-reduction passes; 0 gives the naive layout the benchmark compares with."""

    def __post_init__(self) -> None:
        if self.box_width < 5 or self.box_height < 3 or self.box_height % 2 == 0:
            raise ValueError("a box needs at least 5 columns and an odd number (>= 3) of rows")
        if self.box_gap < 0 or self.min_channel < 3 or self.sweeps < 0:
            raise ValueError("gaps, channel and sweeps must be non-negative (channel >= 3)")


@dataclass(frozen=True, slots=True)
class Box:
    """Where a job's box is, in cells from the top-left corner of the drawing."""

    id: int
    layer: int
    x: int
    y: int
    width: int
    height: int

    @property
    def port_y(self) -> int:
        """The row edges leave and enter by (the middle one)."""
        return self.y + self.height // 2

    def contains(self, x: int, y: int) -> bool:
        """Whether the cell is inside the box."""
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


@dataclass(frozen=True, slots=True)
class Route:
    """The cells an edge is drawn through: an orthogonal polyline of corner points.

    The first point is the cell right of the source box, the last the cell left
    of the target box; consecutive points share a row or a column.
    """

    source: int
    target: int
    points: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """A graph laid out in cells; immutable, so a widget can keep it across refreshes."""

    boxes: Mapping[int, Box]
    layers: tuple[tuple[int, ...], ...]
    """Job ids per column, top to bottom."""
    routes: tuple[Route, ...]
    width: int
    height: int
    crossings: int
    """Edge crossings between adjacent columns in the chosen order (straight-line count)."""
    initial_crossings: int
    """The same count for the order before crossing reduction."""
    virtual_points: int
    predecessors: Mapping[int, tuple[int, ...]]
    """What each job depends on (drawn edges only)."""
    successors: Mapping[int, tuple[int, ...]]
    """What depends on each job (drawn edges only)."""
    dropped_edges: tuple[tuple[int, int], ...]
    """Edges left out to break a cycle (the engine refuses cycles, so normally none)."""

    @property
    def root(self) -> int | None:
        """The first job in reading order: top of the first column."""
        return self.layers[0][0] if self.layers else None

    def neighbour(self, job_id: int, direction: Direction, prefer: int | None = None) -> int:
        """The job the arrow keys move to from ``job_id``; ``job_id`` itself at a dead end.

        ``right`` follows an edge to a dependent, ``left`` to a dependency: ``prefer`` if it
        is one (so going back retraces the step), else the one in the nearest column, and
        of those the nearest row. ``up`` and ``down`` move to the next job in the column.
        """
        box = self.boxes[job_id]
        if direction in ("up", "down"):
            column = self.layers[box.layer]
            i = column.index(job_id) + (1 if direction == "down" else -1)
            return column[i] if 0 <= i < len(column) else job_id
        options = self.successors[job_id] if direction == "right" else self.predecessors[job_id]
        if not options:
            return job_id
        if prefer in options:
            return prefer
        return min(
            options,
            key=lambda o: (
                abs(self.boxes[o].layer - box.layer),
                abs(self.boxes[o].port_y - box.port_y),
                o,
            ),
        )

    def box_at(self, x: int, y: int) -> int | None:
        """The job whose box covers a cell, if any (mouse clicks)."""
        for box in self.boxes.values():
            if box.contains(x, y):
                return box.id
        return None


def layout(graph: GraphLike, options: LayoutOptions | None = None) -> Layout:
    """Lay a dependency graph out left to right; edges are ``(dependency, dependent)``."""
    opts = options or LayoutOptions()
    ids = sorted({n.id for n in graph.nodes})
    index = {job_id: i for i, job_id in enumerate(ids)}
    n = len(ids)
    edge_set = {
        (index[a], index[b]) for a, b in graph.edges if a != b and a in index and b in index
    }
    succ: list[list[int]] = [[] for _ in range(n)]
    for a, b in sorted(edge_set):
        succ[a].append(b)
    back = _back_edges(succ)
    edges = sorted(e for e in edge_set if e not in back)
    succ = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)

    layer_of = _layers(succ, pred)
    proper = _Proper.build(n, layer_of, edges)
    order, initial, crossings = _order(proper, opts.sweeps)
    heights = [opts.box_height if v < n else 1 for v in range(proper.size)]
    rows = _rows(proper, order, heights, opts.box_gap, n)
    ports = [rows[v] + heights[v] // 2 for v in range(proper.size)]
    for _ in range(MAX_OPENED_ROWS):
        tracks, jogs, channel_widths, wanted = _channels(proper, order, ports, opts.min_channel)
        if not wanted:
            break
        # A detour found no free row: open blank rows across the whole drawing (every node
        # from there down moves one row down, so nothing that lined up stops lining up).
        for v in range(proper.size):
            shift = sum(1 for r in wanted if r <= ports[v])
            rows[v] += shift
            ports[v] += shift

    column_x = [0] * len(order)
    for c in range(1, len(order)):
        column_x[c] = column_x[c - 1] + opts.box_width + channel_widths[c - 1]
    boxes = {
        ids[v]: Box(
            ids[v], layer_of[v], column_x[layer_of[v]], rows[v], opts.box_width, opts.box_height
        )
        for v in range(n)
    }
    routes = tuple(
        Route(
            ids[chain[0]],
            ids[chain[-1]],
            _route(chain, proper, ports, tracks, jogs, column_x, opts),
        )
        for chain in proper.chains
    )
    width = (column_x[-1] + opts.box_width) if order else 0
    height = max(
        max((rows[v] + heights[v] for v in range(proper.size)), default=0),
        max((y + 1 for route in routes for _, y in route.points), default=0),
    )
    return Layout(
        boxes=MappingProxyType(boxes),
        layers=tuple(tuple(ids[v] for v in column if v < n) for column in order),
        routes=routes,
        width=width,
        height=height,
        crossings=crossings,
        initial_crossings=initial,
        virtual_points=proper.size - n,
        predecessors=MappingProxyType({ids[v]: tuple(ids[u] for u in pred[v]) for v in range(n)}),
        successors=MappingProxyType({ids[v]: tuple(ids[w] for w in succ[v]) for v in range(n)}),
        dropped_edges=tuple((ids[a], ids[b]) for a, b in sorted(back)),
    )


# -- 0. cycles ----------------------------------------------------------------


def _back_edges(succ: list[list[int]]) -> set[tuple[int, int]]:
    """Edges closing a cycle, found by an iterative depth-first search (no recursion limit)."""
    state = [0] * len(succ)  # 0 unseen, 1 on the stack, 2 done
    back: set[tuple[int, int]] = set()
    for root in range(len(succ)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if state[w] == 0:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    return back


# -- 1. layers ----------------------------------------------------------------


def _layers(succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Column of every node: the better of two longest-path layerings.

    As early as possible (from the sources) suits fan-outs, as late as possible (from
    the sinks) suits fan-ins; on real graphs either can need ten times the virtual
    points of the other, so both are computed (each linear) and the one with fewer
    kept. Each is then tidied: a node with more dependents than dependencies moves
    right next to its first dependent, one with more dependencies than dependents
    left next to its last dependency; both shorten more edges than they lengthen.
    """
    n = len(succ)
    indegree = [len(p) for p in pred]
    queue = deque(v for v in range(n) if indegree[v] == 0)
    topo: list[int] = []
    while queue:
        v = queue.popleft()
        topo.append(v)
        for w in succ[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                queue.append(w)
    early = [0] * n
    for v in topo:
        for w in succ[v]:
            if early[w] <= early[v]:
                early[w] = early[v] + 1
    late = [0] * n
    for v in reversed(topo):
        for u in pred[v]:
            if late[u] <= late[v]:
                late[u] = late[v] + 1
    deepest = max(late, default=0)
    late = [deepest - d for d in late]
    best: list[int] | None = None
    best_span = 0
    for layer in (early, late):
        for v in reversed(topo):
            if succ[v] and len(succ[v]) > len(pred[v]):
                layer[v] = min(layer[w] for w in succ[v]) - 1
        for v in topo:
            if pred[v] and len(pred[v]) > len(succ[v]):
                layer[v] = max(layer[u] for u in pred[v]) + 1
        span = sum(layer[w] - layer[v] for v in range(n) for w in succ[v])
        if best is None or span < best_span:
            best, best_span = layer, span
    assert best is not None
    # Renumber the columns in use, so none is empty.
    column = {c: i for i, c in enumerate(sorted(set(best)))}
    return [column[c] for c in best]


# -- 2. virtual points --------------------------------------------------------


@dataclass(slots=True)
class _Proper:
    """The layered graph with long edges cut into unit steps through virtual points.

    Real nodes are ``0..n-1``; virtual points follow. ``chains[i]`` is the path of the
    i-th edge, real source to real target.
    """

    size: int
    layer: list[int]
    succ: list[list[int]]
    pred: list[list[int]]
    chains: list[list[int]]
    columns: int

    @staticmethod
    def build(n: int, layer_of: list[int], edges: list[tuple[int, int]]) -> _Proper:
        layer = list(layer_of)
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        chains: list[list[int]] = []
        for a, b in edges:
            chain = [a]
            for c in range(layer[a] + 1, layer[b]):
                layer.append(c)
                succ.append([])
                pred.append([])
                chain.append(len(layer) - 1)
            chain.append(b)
            for u, w in itertools.pairwise(chain):
                succ[u].append(w)
                pred[w].append(u)
            chains.append(chain)
        columns = max(layer, default=-1) + 1
        return _Proper(len(layer), layer, succ, pred, chains, columns)


# -- 3. order -----------------------------------------------------------------


def _order(proper: _Proper, sweeps: int) -> tuple[list[list[int]], int, int]:
    """Columns top to bottom, the crossings of the initial order, and of the chosen one.

    The initial order is by id (virtual points after, by edge). Sweeps start from it and
    from a depth-first order (which keeps each chain together); the order with the fewest
    crossings seen in either run wins, the initial one included.
    """
    by_id: list[list[int]] = [[] for _ in range(proper.columns)]
    for v in range(proper.size):
        by_id[proper.layer[v]].append(v)
    pos = [0] * proper.size
    _number(by_id, pos)
    initial = _crossings(by_id, proper.succ, pos)
    best, best_order = initial, [list(c) for c in by_id]
    if sweeps == 0 or initial == 0:
        return best_order, initial, best
    for start in (by_id, _depth_first(proper)):
        _number(start, pos)
        found, order = _sweep(start, pos, proper, sweeps)
        if found < best:
            best, best_order = found, order
    return best_order, initial, best


def _number(order: list[list[int]], pos: list[int]) -> None:
    for column in order:
        for i, v in enumerate(column):
            pos[v] = i


def _depth_first(proper: _Proper) -> list[list[int]]:
    """Each column in the order a depth-first walk from the lowest ids first reaches it."""
    order: list[list[int]] = [[] for _ in range(proper.columns)]
    seen = [False] * proper.size
    for root in range(proper.size):
        if seen[root]:
            continue
        seen[root] = True
        stack = [root]
        while stack:
            v = stack.pop()
            order[proper.layer[v]].append(v)
            for w in reversed(proper.succ[v]):
                if not seen[w]:
                    seen[w] = True
                    stack.append(w)
    return order


def _sweep(
    start: list[list[int]], pos: list[int], proper: _Proper, sweeps: int
) -> tuple[int, list[list[int]]]:
    """Barycenter sweeps down and up, each followed by neighbour swaps; the best order seen."""
    order = [list(c) for c in start]
    best, best_order = _crossings(order, proper.succ, pos), [list(c) for c in order]
    stale = 0
    for _ in range(sweeps):
        if best == 0 or stale >= 2:
            break
        for c in range(1, len(order)):
            _sort_by_barycenter(order[c], proper.pred, pos, len(order[c - 1]))
        for c in range(len(order) - 2, -1, -1):
            _sort_by_barycenter(order[c], proper.succ, pos, len(order[c + 1]))
        _transpose(order, pos, proper.pred, proper.succ)
        found = _crossings(order, proper.succ, pos)
        if found < best:
            best, best_order, stale = found, [list(c) for c in order], 0
        else:
            stale += 1
    return best, best_order


def _sort_by_barycenter(
    column: list[int], neighbours: list[list[int]], pos: list[int], other_size: int
) -> None:
    """Reorder a column by the mean position of each node's neighbours in the next one.

    A node with no neighbour there keeps its relative place (scaled to the other
    column's size); ties keep the current order.
    """
    scale = other_size / len(column) if column else 1.0
    keys: dict[int, tuple[float, int]] = {}
    for v in column:
        nb = neighbours[v]
        here = pos[v]
        keys[v] = (sum(pos[u] for u in nb) / len(nb) if nb else here * scale, here)
    column.sort(key=keys.__getitem__)
    for i, v in enumerate(column):
        pos[v] = i


def _transpose(
    order: list[list[int]], pos: list[int], pred: list[list[int]], succ: list[list[int]]
) -> None:
    """Swap neighbours in a column while that removes crossings on either side of it
    (the local fix-up dot runs after each sweep; barycenters alone stop short of it).

    The columns on either side stay still while one column is worked on, so each node's
    neighbour positions are read once per column.
    """
    for column in order:
        near = [[pos[a] for a in pred[v]] + [-1] + [pos[b] for b in succ[v]] for v in column]
        for _ in range(TRANSPOSE_PASSES):
            improved = False
            for i in range(len(column) - 1):
                above, below = near[i], near[i + 1]
                keep = swap = 0
                side_a = side_b = 0  # the -1 marks where successors start
                for a in above:
                    if a < 0:
                        side_a = 1
                        continue
                    side_b = 0
                    for b in below:
                        if b < 0:
                            side_b = 1
                        elif side_a == side_b:
                            if a > b:
                                keep += 1
                            elif b > a:
                                swap += 1
                if keep > swap:
                    u, v = column[i], column[i + 1]
                    column[i], column[i + 1] = v, u
                    near[i], near[i + 1] = below, above
                    pos[u], pos[v] = i + 1, i
                    improved = True
            if not improved:
                break


def _crossings(order: list[list[int]], succ: list[list[int]], pos: list[int]) -> int:
    """Crossings between adjacent columns: inversions counted with a Fenwick tree."""
    total = 0
    for c in range(len(order) - 1):
        pairs = sorted((pos[u], pos[w]) for u in order[c] for w in succ[u])
        size = len(order[c + 1])
        tree = [0] * (size + 1)
        for seen, (_, p) in enumerate(pairs):
            # seen - (inserted at positions <= p) = earlier edges ending below this one
            i, at_or_above = p + 1, 0
            while i > 0:
                at_or_above += tree[i]
                i -= i & -i
            total += seen - at_or_above
            i = p + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


# -- 4. rows ------------------------------------------------------------------


def _rows(
    proper: _Proper, order: list[list[int]], heights: list[int], gap: int, n: int
) -> list[int]:
    """Top row of every node: near its neighbours, in order, boxes apart by ``gap``."""
    real = [v < n for v in range(proper.size)]
    offsets: list[list[int]] = []
    y = [0.0] * proper.size
    for column in order:
        off, at = [], 0
        for i, v in enumerate(column):
            if i:
                prev = column[i - 1]
                at += heights[prev] + (gap if real[prev] or real[v] else 0)
            off.append(at)
            y[v] = float(at)
        offsets.append(off)
    half = [h // 2 for h in heights]

    def place(c: int, sides: tuple[list[list[int]], ...], snap: bool) -> None:
        column, off = order[c], offsets[c]
        targets: list[float] = []
        weights: list[float] = []
        for i, v in enumerate(column):
            total = weight = 0.0
            for side in sides:
                for u in side[v]:
                    w = (
                        _WEIGHT_VIRTUAL
                        if not real[u] and not real[v]
                        else _WEIGHT_REAL
                        if real[u] and real[v]
                        else _WEIGHT_MIXED
                    )
                    total += w * (y[u] + half[u])
                    weight += w
            if weight:
                targets.append(total / weight - half[v] - off[i])
                weights.append(weight)
            else:
                targets.append(y[v] - off[i])
                weights.append(_WEIGHT_LONE)
        for i, (v, z) in enumerate(zip(column, _isotonic(targets, weights), strict=True)):
            y[v] = (math.floor(z + 0.5) if snap else z) + off[i]

    last = len(order) - 1
    if last < 0:
        return []
    for _ in range(ROW_PASSES):
        for c in range(1, last + 1):
            place(c, (proper.pred,), snap=False)
        for c in range(last - 1, -1, -1):
            place(c, (proper.succ,), snap=False)
    # Final pass downwards on whole rows: a node placed from one already-placed
    # neighbour lands exactly on its row, so chains of virtual points stay straight.
    place(0, (proper.succ,), snap=True)
    for c in range(1, last + 1):
        place(c, (proper.pred,), snap=True)
    top = min((int(v) for v in y), default=0)
    return [int(v) - top for v in y]


def _isotonic(targets: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence nearest ``targets`` in weighted least squares (PAVA)."""
    values: list[float] = []
    totals: list[float] = []
    counts: list[int] = []
    for t, w in zip(targets, weights, strict=True):
        values.append(t)
        totals.append(w)
        counts.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            v, w2, k = values.pop(), totals.pop(), counts.pop()
            merged = totals[-1] + w2
            values[-1] = (values[-1] * totals[-1] + v * w2) / merged
            totals[-1] = merged
            counts[-1] += k
    out: list[float] = []
    for v, k in zip(values, counts, strict=True):
        out.extend([v] * k)
    return out


# -- 5. channels --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Jog:
    """A detour for a source line that would otherwise run along another net's line.

    The line leaves the source on its row, turns at ``track`` (left of every other
    trunk) onto ``row`` (a row no other line of the channel uses) and meets its own
    trunk there.
    """

    track: int
    row: int


def _channels(
    proper: _Proper, order: list[list[int]], ports: list[int], min_channel: int
) -> tuple[dict[int, int], dict[int, _Jog], list[int], set[int]]:
    """The track of every node whose fan-out needs a vertical trunk, detours, and widths.

    A node's net is its port row plus the port rows of its targets in the next column:
    a source line runs on its row from the column to the trunk, a target line from the
    trunk to the next column. Two nets must never share a line, or the drawing would
    say a job feeds a job it does not. So a trunk sits right of every earlier trunk its
    rows overlap, and a net whose source row is another net's target row gets its trunk
    left of that net's. These "left of" rules can form a cycle (two nets swapping rows);
    a net whose rule could not be kept takes a detour (:class:`_Jog`) instead.
    Tracks are numbered from the left of the channel. The last value is the rows to
    open (above which to insert a blank row) for detours that found no free row.
    """
    tracks: dict[int, int] = {}
    jogs: dict[int, _Jog] = {}
    widths: list[int] = []
    wanted: set[int] = set()
    for c in range(len(order) - 1):
        nets = []
        line_rows: set[int] = set()
        for v in order[c]:
            if not proper.succ[v]:
                continue
            targets = {ports[w] for w in proper.succ[v]}
            src = ports[v]
            line_rows.add(src)
            line_rows.update(targets)
            if targets != {src}:
                nets.append((v, src, targets, min(src, *targets), max(src, *targets)))
        if not nets:
            widths.append(min_channel)
            continue
        left_of: dict[int, list[int]] = {}  # net -> nets whose trunk must be left of it
        by_target_row: dict[int, list[int]] = {}
        for v, _, targets, _, _ in nets:
            for t in targets:
                by_target_row.setdefault(t, []).append(v)
        for v, src, _, _, _ in nets:
            for other in by_target_row.get(src, ()):
                if other != v:
                    left_of.setdefault(other, []).append(v)
        top = min(net[3] for net in nets)
        used = [-1] * (max(net[4] for net in nets) - top + 1)  # rightmost track per row
        placed: dict[int, int] = {}
        spans = {net[0]: net for net in nets}
        for v in _constrained_order(nets, left_of):
            _, _, _, lo, hi = spans[v]
            track = max(used[lo - top : hi - top + 1]) + 1
            for u in left_of.get(v, ()):
                if u in placed:
                    track = max(track, placed[u] + 1)
            placed[v] = track
            used[lo - top : hi - top + 1] = [track] * (hi - lo + 1)
        broken = sorted(
            {u for v, before in left_of.items() for u in before if placed[u] >= placed[v]},
            key=lambda u: placed[u],
        )
        detours = _detours(broken, spans, placed, line_rows, wanted)
        shift = 1 + max((j.track for j in detours.values()), default=-1)
        tracks.update((v, t + shift) for v, t in placed.items())
        jogs.update(detours)
        widths.append(max(min_channel, shift + max(placed.values()) + 4))
    return tracks, jogs, widths, wanted


def _detours(
    broken: list[int],
    spans: dict[int, tuple[int, int, set[int], int, int]],
    placed: dict[int, int],
    line_rows: set[int],
    wanted: set[int],
) -> dict[int, _Jog]:
    """A detour for each net that needs one: a row no line of the channel uses, nearest
    its source, where it meets its trunk (stretched to that row if the track is free
    there), and a track among the leftmost ones (first fit; detours are short). A net
    with no free row near adds the row it needs opened to ``wanted``."""
    taken = set(line_rows)
    on_track: dict[int, list[tuple[int, int]]] = {}
    for v, track in placed.items():
        on_track.setdefault(track, []).append((spans[v][3], spans[v][4]))
    jog_tracks: list[list[tuple[int, int]]] = []
    out: dict[int, _Jog] = {}
    for v in broken:
        _, src, _, lo, hi = spans[v]
        reach = hi - lo + 3
        rows = sorted(
            (r for r in range(max(0, lo - reach), hi + reach + 1) if r not in taken),
            key=lambda r: (max(lo - r, r - hi, 0), abs(r - src), r),
        )
        for row in rows:
            if lo <= row <= hi:
                break
            stretch = (row, lo - 1) if row < lo else (hi + 1, row)
            if all(e < stretch[0] or stretch[1] < s for s, e in on_track[placed[v]]):
                on_track[placed[v]].append(stretch)
                break
        else:  # no free row near: ask for a blank row between the source and its trunk
            wanted.add(src + 1 if hi > src else src)
            continue
        taken.add(row)
        a, b = min(src, row), max(src, row)
        track = next(
            (i for i, ts in enumerate(jog_tracks) if all(b < s or e < a for s, e in ts)),
            len(jog_tracks),
        )
        if track == len(jog_tracks):
            jog_tracks.append([])
        jog_tracks[track].append((a, b))
        out[v] = _Jog(track, row)
    return out


def _constrained_order(
    nets: list[tuple[int, int, set[int], int, int]], left_of: dict[int, list[int]]
) -> list[int]:
    """Nets in the order tracks are handed out: every net after those that must be left of
    it; otherwise downward nets before upward ones, each by the row it starts from, so
    stair-steps nest instead of crossing. A cycle of constraints (rare) is cut."""
    key = {v: ((0, -src) if src == lo else (1, src), v) for v, src, _, lo, _ in nets}
    waiting = {v: 0 for v, *_ in nets}
    after: dict[int, list[int]] = {}
    for v, before in left_of.items():
        for u in set(before):
            after.setdefault(u, []).append(v)
            waiting[v] += 1
    ready = [key[v] for v, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    pending = sorted(key.values())
    out: list[int] = []
    done: set[int] = set()
    while len(out) < len(nets):
        if not ready:  # a cycle: release the first net still waiting
            ready.append(next(k for k in pending if k[1] not in done))
        _, v = heapq.heappop(ready)
        if v in done:
            continue
        done.add(v)
        out.append(v)
        for w in after.get(v, ()):
            waiting[w] -= 1
            if waiting[w] == 0 and w not in done:
                heapq.heappush(ready, key[w])
    return out


# -- 6. routes ----------------------------------------------------------------


def _route(
    chain: list[int],
    proper: _Proper,
    ports: list[int],
    tracks: dict[int, int],
    jogs: dict[int, _Jog],
    column_x: list[int],
    opts: LayoutOptions,
) -> tuple[tuple[int, int], ...]:
    """The corner points of one edge through its virtual points."""
    first = chain[0]
    points = [(column_x[proper.layer[first]] + opts.box_width, ports[first])]
    for a, b in itertools.pairwise(chain):
        c = proper.layer[a]
        ya, yb = ports[a], ports[b]
        start = column_x[c] + opts.box_width + 1
        jog = jogs.get(a)
        if jog is not None:
            x = start + tracks[a]
            points += [(start + jog.track, ya), (start + jog.track, jog.row), (x, jog.row), (x, yb)]
        elif ya != yb:
            x = start + tracks[a]
            points += [(x, ya), (x, yb)]
        points.append((column_x[c + 1] - 1, yb))
        if b != chain[-1]:  # through the column of a virtual point
            points.append((column_x[c + 1] + opts.box_width, yb))
    return _simplify(points)


def _simplify(points: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Drop repeated points and points in the middle of a straight run."""
    out: list[tuple[int, int]] = []
    for p in points:
        if out and out[-1] == p:
            continue
        if len(out) >= 2:
            (x0, y0), (x1, y1) = out[-2], out[-1]
            if (x0 == x1 == p[0]) or (y0 == y1 == p[1]):
                out[-1] = p
                continue
        out.append(p)
    return tuple(out)
