"""Workers (``4``): workers per queue (``+``/``-``), every worker (``k``), the budget."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from engine.snapshots import Worker
from queueconsole.console.memory import memory_text
from queueconsole.console.model import Overview, Selection, WorkersView
from queueconsole.console.panes.base import Pane
from queueconsole.console.text import age, count, literal, megabytes, sparkline
from queueconsole.console.widgets.keyed_table import KeyedTable

MEMORY_SAMPLES = 60  # memory samples kept per worker for its sparkline

QUEUE_COLUMNS = (
    ("queue", "queue"),
    ("workers", "workers"),
    ("ready", "ready"),
    ("running", "running"),
    ("failed", "failed"),
)

WORKER_COLUMNS = (
    ("id", "worker"),
    ("state", "state"),
    ("job", "job"),
    ("heartbeat", "beat"),
    ("rss", "rss"),
    ("memory", "rss trend"),
    ("cpu", "cpu"),
    ("cpu_req", "cpu req/cap"),
    ("mem_req", "mem req/cap"),
    ("queues", "queues"),
    ("where", "host:pid"),
    ("done", "done"),
)


def budget_text(view: WorkersView) -> Text:
    """``memory reserved 288M of 2,048M budget · resident 150M · …``, or why nothing is
    shown. Reserved is what the budget counts (each worker's limit), resident what the
    workers measure; a missing budget reads "no budget", an unreported one "unknown"."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not view.available:
        text.append(
            "no supervisor reports workers here (client mode); "
            "scaling needs the embedded engine or --attach",
            style="italic",
        )
        return text
    text.append("memory ", style="bold")
    text.append_text(memory_text(view))
    text.append(f" · {len(view.workers)} workers · + / - scale the queue, k recycles a worker")
    return text


class WorkersPane(Pane):
    """Queues on top (scale them), workers below (recycle them); tab moves between."""

    DEFAULT_CSS = """
    WorkersPane #worker-queues {
        height: auto;
        max-height: 40%;
    }
    WorkersPane #budget {
        height: 1;
    }
    """

    title = "Workers"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._memory: dict[str, deque[float]] = {}
        self._now = None
        self._workers: dict[str, Worker] = {}
        """The workers on screen by id: a selected row's host and queues."""

    def compose(self) -> ComposeResult:
        yield Static(id="budget")
        yield KeyedTable(QUEUE_COLUMNS, id="worker-queues")
        yield KeyedTable(WORKER_COLUMNS, id="workers-table")
        yield Static(classes="pane-status")

    def on_overview(self, overview: Overview) -> None:
        view = overview.workers
        self._workers = {w.id: w for w in view.workers}
        self._sample_memory(view.workers)
        self.query_one("#budget", Static).update(budget_text(view))
        rows = []
        for q in overview.queues:
            n = view.count_for(q.name) if view.available else None
            name = literal(q.name)
            if q.paused:
                name.append(" (paused)", style="yellow")
            rows.append(
                (q.name, (name, count(n), count(q.ready), count(q.running), count(q.failed)))
            )
        self.query_one("#worker-queues", KeyedTable).set_rows(rows)
        self.query_one("#workers-table", KeyedTable).set_rows(
            [(w.id, self._cells(w, overview)) for w in view.workers]
        )

    def _sample_memory(self, workers: tuple[Worker, ...]) -> None:
        seen = set()
        for w in workers:
            seen.add(w.id)
            samples = self._memory.setdefault(w.id, deque(maxlen=MEMORY_SAMPLES))
            samples.append(float(w.rss_bytes or 0))
        for gone in set(self._memory) - seen:
            del self._memory[gone]

    def _cells(self, w: Worker, overview: Overview) -> tuple[object, ...]:
        state = Text(w.state, style="blue" if w.current_job_id is not None else "")
        cpu = f"{w.cpu_percent:.0f}%" if w.cpu_percent is not None else "-"
        where = f"{w.host}:{w.pid}" if w.pid is not None else w.host
        if w.heartbeat_at is not None:
            beat = age(w.heartbeat_at, overview.at)
        elif w.heartbeat_age_s is not None:
            beat = f"{w.heartbeat_age_s:.0f}s"
        else:
            beat = "-"
        return (
            literal(w.id),
            state,
            Text(str(w.current_job_id) if w.current_job_id is not None else "-"),
            Text(beat),
            Text(megabytes(w.rss_bytes)),
            Text(sparkline(_memory(w) or tuple(self._memory.get(w.id, ())))),
            Text(cpu),
            Text(requested_of_capacity(w.cpu_requested, w.cpus)),
            Text(requested_of_capacity(w.memory_requested_mb, w.max_memory_mb, "M")),
            literal(",".join(w.queues)),
            literal(where),
            Text(f"{w.jobs_done:,}"),
        )

    def selection(self) -> Selection:
        queue = self.query_one("#worker-queues", KeyedTable).selected_key
        table = self.query_one("#workers-table", KeyedTable)
        worker = table.selected_key
        chosen = self._workers.get(str(worker)) if worker is not None else None
        if table.has_focus and chosen is not None and chosen.queues:
            # The cursor is on a worker: + and - act on its queue on its host.
            return Selection(queue=chosen.queues[0], worker_id=chosen.id, host=chosen.host)
        return Selection(
            queue=str(queue) if queue is not None else None,
            worker_id=str(worker) if worker is not None else None,
        )


def _memory(w: Worker) -> tuple[float, ...]:
    """Resident memory samples the engine kept for ``w``, oldest first."""
    return tuple(float(m.rss_bytes) for m in w.memory_history)


def requested_of_capacity(requested: float | None, capacity: float | None, unit: str = "") -> str:
    """``0.5/2`` or ``400/1000M``: what a worker's running jobs requested of what it
    offers (not what they use: ``rss`` and ``cpu`` are measured); ``-`` when unknown,
    ``∞`` for a worker without a memory limit."""
    if requested is None and capacity is None:
        return "-"
    used = "-" if requested is None else f"{requested:g}"
    cap = "∞" if capacity is None else f"{capacity:g}"
    return f"{used}/{cap}{unit}"
