"""A workflow's dependency graph, as the DAG view draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.states import State


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One job as the DAG view draws it."""

    id: int
    type: str
    queue: str
    state: State
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    wait_reason: str | None
    workflow_id: int | None
    """Differs from the graph's workflow for a job outside it that the workflow is wired to."""
    label: str | None = None
    """The ref its workflow gave the job (``extract``), None when it was given none."""


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    """The jobs of a workflow (or of a connected component) and their dependencies.

    ``edges`` are ``(depends_on_id, job_id)``: from the job that must finish first to the
    job that waits for it, the direction work flows. Both ends are always in ``nodes``.
    """

    workflow_id: int | None
    name: str | None
    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[int, int], ...]
    truncated: bool

    def node(self, job_id: int) -> GraphNode | None:
        """The node of a job, or None if the graph does not hold it."""
        for n in self.nodes:
            if n.id == job_id:
                return n
        return None
