"""Graphs for the DAG view's tests, built directly as snapshots (no database needed)."""

from __future__ import annotations

import random
from collections.abc import Iterable

from engine.snapshots import GraphNode, WorkflowGraph
from engine.states import State


def node(
    job_id: int,
    type: str = "job",
    state: State = State.PENDING,
    *,
    attempts: int = 0,
    workflow_id: int | None = 1,
    wait_reason: str | None = None,
) -> GraphNode:
    return GraphNode(
        id=job_id,
        type=type,
        queue="default",
        state=state,
        attempts=attempts,
        started_at=None,
        finished_at=None,
        wait_reason=wait_reason,
        workflow_id=workflow_id,
    )


def graph(
    nodes: Iterable[GraphNode], edges: Iterable[tuple[int, int]], *, name: str | None = "demo"
) -> WorkflowGraph:
    return WorkflowGraph(1, name, tuple(nodes), tuple(edges), False)


def chain(n: int, first: int = 1) -> WorkflowGraph:
    """first -> first+1 -> ... (n jobs)."""
    ids = range(first, first + n)
    return graph([node(i, f"step.{i}") for i in ids], [(i, i + 1) for i in ids[:-1]])


def diamond() -> WorkflowGraph:
    """extract feeds two transforms that both feed load."""
    return graph(
        [
            node(1, "extract", State.COMPLETED, attempts=1),
            node(2, "transform.a", State.RUNNING, attempts=2),
            node(3, "transform.b", State.FAILED, attempts=4),
            node(4, "load", State.BLOCKED),
        ],
        [(1, 2), (1, 3), (2, 4), (3, 4)],
        name="nightly",
    )


def random_dag(n: int, seed: int, *, per_job: int = 2, window: int = 30) -> WorkflowGraph:
    """Each job waits for up to ``per_job`` random jobs among the ``window`` before it."""
    rnd = random.Random(seed)
    edges: set[tuple[int, int]] = set()
    for i in range(2, n + 1):
        pool = range(max(1, i - window), i)
        for j in rnd.sample(pool, min(per_job, len(pool))):
            edges.add((j, i))
    states = list(State)
    return graph([node(i, f"t{i}", rnd.choice(states)) for i in range(1, n + 1)], sorted(edges))
