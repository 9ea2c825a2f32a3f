"""DAG view layout: time and edge crossings at 500 and 2,000 jobs, against a naive peer.

The peer is the same pipeline without crossing reduction (same layers, virtual
points, rows and routing; columns kept in id order), so the difference in
crossings is what the barycenter sweeps and neighbour swaps buy, and the
difference in time is what they cost. Two shapes of graph, two edges per job:

* ``pipelines`` — what workflows look like: extract → fan-out of transforms →
  merge → load, chained, with a few links between neighbouring pipelines;
* ``random`` — each job waits for two random jobs among the 30 before it: long
  edges everywhere, the worst case for virtual points and crossings.

Also the cost of drawing one 80×24 screen from the middle of the drawing,
which is what scrolling pays per frame.

    python -m bench.dag_layout [--sizes 500 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time

from bench.common import median, print_table
from engine.snapshots import GraphNode, WorkflowGraph
from engine.states import State
from queueconsole.console.dag.layout import Layout, LayoutOptions, layout
from queueconsole.console.dag.render import DagCanvas

SEED = 20261123  # fixed, so every run measures the same graphs
SCREEN = (80, 24)  # columns, rows drawn per frame


def _graph(n: int, edges: set[tuple[int, int]], rnd: random.Random) -> WorkflowGraph:
    states = list(State)
    nodes = tuple(
        GraphNode(i, f"job.type.{i % 17}", "default", rnd.choice(states), 1, None, None, None, 1)
        for i in range(1, n + 1)
    )
    return WorkflowGraph(1, "bench", nodes, tuple(sorted(edges)), False)


def random_dag(n: int, window: int = 30, per_job: int = 2) -> WorkflowGraph:
    """Every job waits for ``per_job`` distinct random jobs among the ``window`` before it."""
    rnd = random.Random(SEED)
    edges: set[tuple[int, int]] = set()
    for i in range(2, n + 1):
        earlier = range(max(1, i - window), i)
        for j in rnd.sample(earlier, min(per_job, len(earlier))):
            edges.add((j, i))
    return _graph(n, edges, rnd)


def pipelines(n: int, fan: int = 6) -> WorkflowGraph:
    """Chained extract → ``fan`` transforms → merge → load stages, lightly cross-linked,
    until ``n`` jobs and about two edges per job."""
    rnd = random.Random(SEED)
    edges: set[tuple[int, int]] = set()
    next_id = 1
    tails: list[int] = []
    while next_id + fan + 2 <= n:
        extract = next_id
        if tails and rnd.random() < 0.7:
            edges.add((tails[-1], extract))
        transforms = list(range(extract + 1, extract + 1 + fan))
        merge = extract + fan + 1
        load = merge + 1
        for t in transforms:
            edges.add((extract, t))
            edges.add((t, merge))
            if rnd.random() < 0.15 and tails:
                edges.add((rnd.choice(tails[-3:]), t))
        edges.add((merge, load))
        if len(tails) > 1 and rnd.random() < 0.5:
            edges.add((tails[-2], load))
        tails.append(load)
        next_id = load + 1
    while next_id <= n:  # the rest hang off the last load
        if tails:
            edges.add((tails[-1], next_id))
        next_id += 1
    return _graph(n, edges, rnd)


def _time_layout(
    graph: WorkflowGraph, options: LayoutOptions, repeat: int
) -> tuple[float, float, Layout]:
    """Median wall and CPU seconds of a layout (CPU time does not count other processes)."""
    walls, cpus = [], []
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = layout(graph, options)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert result is not None
    return median(walls), median(cpus), result


def _time_screen(graph: WorkflowGraph, laid: Layout, repeat: int) -> float:
    canvas = DagCanvas(laid, graph)
    columns, rows = SCREEN
    x0 = max(0, laid.width // 2 - columns // 2)
    y0 = max(0, laid.height // 2 - rows // 2)
    selected = laid.layers[len(laid.layers) // 2][0]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for y in range(y0, y0 + rows):
            canvas.row(y, x0, columns, selected=selected)
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for shape, make in (("pipelines", pipelines), ("random", random_dag)):
            graph = make(n)
            for name, options in (("ours", LayoutOptions()), ("naive", LayoutOptions(sweeps=0))):
                wall, cpu, laid = _time_layout(graph, options, args.repeat)
                screen = _time_screen(graph, laid, args.repeat)
                rows.append(
                    (
                        f"{shape} {n}",
                        len(graph.edges),
                        name,
                        f"{wall * 1000:.0f} ms",
                        f"{cpu * 1000:.0f} ms",
                        laid.crossings,
                        laid.virtual_points,
                        f"{laid.width}x{laid.height}",
                        f"{screen * 1000:.1f} ms",
                    )
                )
    print_table(
        ("graph", "edges", "layout", "wall", "cpu", "crossings", "virtual", "cells", "80x24 frame"),
        rows,
    )


if __name__ == "__main__":
    main()
