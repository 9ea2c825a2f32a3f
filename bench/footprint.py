"""``python -m bench.footprint``: the resident memory of an idle process tree, ours and peers'.

Each system runs its own worker command for 2 worker processes on one queue, with the
same no-op task module as the rest of the suite, in the same run, alternating within
each repetition:

- ours: ``queueconsole engine --workers 2`` — the supervisor (scheduler, reconcilers,
  rescuer, the control consumer) and its 2 worker processes;
- Celery: ``celery worker --pool prefork --concurrency 2`` — the main process and 2 pool
  processes (the reliable configuration; memory does not depend on it);
- Dramatiq: ``dramatiq --processes 2 --threads 1`` — the main process and 2 workers.

Once every consumer is on its queue and the tree has sat idle for :data:`SETTLE_S`,
psutil reads each process of the tree. Three figures, summed over the tree:

- **RSS** counts every resident page in each process that maps it, so pages that a
  fork leaves shared between parent and children count once per process;
- **USS** counts only pages no other process maps (what stopping the process frees);
- **PSS** splits each shared page evenly between the processes that map it, so the
  tree's PSS is what the tree adds to the machine. This is the fair figure across
  designs: Celery's pool processes are forked from a parent that had imported
  everything, and share those pages; ours and Dramatiq's start fresh interpreters.

Every system loads cached bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for the
run), as an installed package does: compiling source instead would add transient
memory to whichever side happened not to have it cached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from bench.common import bench_settings, median, print_table
from bench.harness import (
    BenchError,
    BrokerProbe,
    Proc,
    Processes,
    delete_prefixed,
    private_vhost,
    python_env,
    redis_client,
    wait_for_consumers,
)
from bench.peers import PEERS, consumers_expected, worker_command
from engine.broker.names import Names
from engine.config import Settings
from engine.db.migrate import drop_database, migrate

WORKERS = 2  # worker processes per system
SETTLE_S = 2.0  # seconds a ready tree sits idle before it is read
READY_TIMEOUT_S = 60.0  # seconds for a tree's consumers to appear on its queue
DEFAULT_REPS = 3  # repetitions; the table shows medians
MIB = 2**20  # bytes


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """One process of a tree: its role and its memory in MiB."""

    role: str
    rss: float
    uss: float
    pss: float


@dataclass(frozen=True, slots=True)
class TreeMemory:
    """A process tree's memory: the root (the parent) first, then its descendants."""

    processes: tuple[ProcessMemory, ...]

    def total(self, metric: str) -> float:
        """``rss``, ``uss`` or ``pss`` summed over the tree, MiB."""
        return sum(float(getattr(p, metric)) for p in self.processes)


def read_tree(pid: int) -> TreeMemory:
    """psutil's full memory info of ``pid`` and every descendant, in MiB."""
    root = psutil.Process(pid)
    found: list[ProcessMemory] = []
    for i, proc in enumerate([root, *root.children(recursive=True)]):
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found.append(
            ProcessMemory(
                role="parent" if i == 0 else "child",
                rss=info.rss / MIB,
                uss=info.uss / MIB,
                pss=getattr(info, "pss", info.rss) / MIB,
            )
        )
    return TreeMemory(tuple(found))


@dataclass(frozen=True, slots=True)
class System:
    """One row of the table: how to start its tree and how to tell it is ready."""

    name: str
    configuration: str
    start: Callable[[str], Proc]
    """Start the tree for a queue name; returns the root process."""
    ready: Callable[[str], tuple[str, int]]
    """For a queue name: the broker queue to watch and how many consumers mean ready."""


class Footprint:
    """One run: a scratch database, a private vhost, every system measured ``reps`` times.

    Args:
        reps: repetitions (each one starts every system afresh).
        families: which systems to run: ``ours``, ``celery``, ``dramatiq``.
    """

    def __init__(self, reps: int, families: Sequence[str]) -> None:
        self.reps = reps
        self.families = tuple(families)
        self.tag = f"fp-{os.getpid()}-{secrets.token_hex(2)}"
        self.procs = Processes()
        self.trees: dict[str, list[TreeMemory]] = {}

    def run(self) -> list[tuple[System, list[TreeMemory]]]:
        """Measure; stop and delete everything afterwards."""
        settings = bench_settings("footprint")
        asyncio.run(migrate(settings))
        try:
            with private_vhost(settings.amqp_url, self.tag) as vhost:
                settings = settings.evolve(amqp_url=vhost.url)
                probe = BrokerProbe(vhost.url)
                try:
                    return self._measure(settings, probe)
                finally:
                    self.procs.close()
                    probe.close()
        finally:
            client = redis_client(settings.redis_url)
            try:
                delete_prefixed(client, settings.namespace)  # our engine's status cache
            finally:
                client.close()
            asyncio.run(drop_database(settings))

    def _measure(
        self, settings: Settings, probe: BrokerProbe
    ) -> list[tuple[System, list[TreeMemory]]]:
        systems = self._systems(settings)
        results: dict[str, list[TreeMemory]] = {s.name: [] for s in systems}
        for rep in range(self.reps):
            for system in systems:
                queue = f"footprint-{system.name.split()[0].lower()}-{rep}"
                root = system.start(queue)
                try:
                    broker_queue, consumers = system.ready(queue)
                    wait_for_consumers(
                        probe, broker_queue, consumers, timeout_s=READY_TIMEOUT_S, watch=[root]
                    )
                    time.sleep(SETTLE_S)
                    tree = read_tree(root.popen.pid)
                finally:
                    self.procs.stop(root)
                    probe.delete([broker_queue, f"{queue}.DQ", f"{queue}.XQ"])
                results[system.name].append(tree)
                print(
                    f"{system.name} rep {rep + 1}: {len(tree.processes)} processes, "
                    f"RSS {tree.total('rss'):.0f} PSS {tree.total('pss'):.0f} MiB",
                    file=sys.stderr,
                )
        return [(s, results[s.name]) for s in systems]

    def _systems(self, settings: Settings) -> list[System]:
        python = self.procs.python
        names = Names(settings.namespace)
        systems: list[System] = []
        if "ours" in self.families:
            ours_env = _env(
                {
                    "QUEUECONSOLE_DATABASE_URL": settings.database_url,
                    "QUEUECONSOLE_AMQP_URL": settings.amqp_url,
                    "QUEUECONSOLE_REDIS_URL": settings.redis_url,
                    "QUEUECONSOLE_NAMESPACE": settings.namespace,
                    "QUEUECONSOLE_JOB_MODULES": "bench.ours_jobs",
                    "BENCH_REDIS_URL": settings.redis_url,
                }
            )
            ours_env.pop("QUEUECONSOLE_CONFIG", None)  # a config file would override the above
            systems.append(
                System(
                    "ours (queueconsole)",
                    f"queueconsole engine --workers {WORKERS}: supervisor + {WORKERS} workers",
                    lambda q: self.procs.start(
                        f"ours-engine-{q}",
                        [
                            python,
                            "-m",
                            "queueconsole",
                            "engine",
                            "--workers",
                            str(WORKERS),
                            "--queues",
                            q,
                        ],
                        ours_env,
                    ),
                    # the supervisor's control consumer is on another queue: wait for workers
                    lambda q: (names.queue(q), WORKERS),
                )
            )
        for family, key, extra, label in (
            ("celery", "celery-reliable", (), f"prefork {WORKERS}: main + {WORKERS} pool"),
            ("dramatiq", "dramatiq", ("--threads", "1"), f"{WORKERS} processes x 1 thread"),
        ):
            if family not in self.families:
                continue
            peer = PEERS[key]
            if not peer.available():
                print(f"bench: {peer.package} is not installed; skipped", file=sys.stderr)
                continue

            def start(q: str, key: str = key, extra: tuple[str, ...] = extra) -> Proc:
                env = _env(
                    {
                        "BENCH_PEER": key,
                        "BENCH_QUEUE": q,
                        "BENCH_AMQP_URL": settings.amqp_url,
                        "BENCH_REDIS_URL": settings.redis_url,
                    }
                )
                argv = [*worker_command(PEERS[key], python, WORKERS, q), *extra]
                return self.procs.start(f"{key}-{q}", argv, env)

            def ready(q: str, key: str = key) -> tuple[str, int]:
                return q, consumers_expected(PEERS[key], WORKERS)

            systems.append(System(peer.system, label, start, ready))
        return systems


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = python_env(extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode, as installed (module doc)
    return env


def _total(trees: Sequence[TreeMemory], metric: str) -> float:
    return median([t.total(metric) for t in trees])


def report(results: Sequence[tuple[System, list[TreeMemory]]]) -> None:
    """Two tables of medians: each tree and its parts, then ours/peer ratios."""
    rows: list[list[object]] = []
    for system, trees in results:
        if not trees:
            continue
        children = [p for t in trees for p in t.processes[1:]]
        rows.append(
            [
                system.name,
                system.configuration,
                f"{median([len(t.processes) for t in trees]):.0f}",
                *(f"{_total(trees, m):.0f}" for m in ("rss", "uss", "pss")),
                f"{median([t.processes[0].rss for t in trees]):.0f}",
                f"{median([t.processes[0].pss for t in trees]):.0f}",
                f"{median([c.rss for c in children]):.0f}" if children else "-",
                f"{median([c.pss for c in children]):.0f}" if children else "-",
            ]
        )
    print_table(
        [
            "system",
            "configuration",
            "procs",
            "tree RSS",
            "tree USS",
            "tree PSS",
            "parent RSS",
            "parent PSS",
            "child RSS",
            "child PSS",
        ],
        rows,
        left=2,
    )
    print("MiB, medians; a child's figures are the median over every child of every repetition.")
    ours = next((trees for s, trees in results if s.name.startswith("ours")), None)
    peers = [(s, t) for s, t in results if t and not s.name.startswith("ours")]
    if ours and peers:
        print()
        print_table(
            ["ours / peer", "tree RSS", "tree USS", "tree PSS"],
            [
                [
                    system.name,
                    *(f"{_total(ours, m) / _total(trees, m):.2f}x" for m in ("rss", "uss", "pss")),
                ]
                for system, trees in peers
            ],
        )
        print("below 1 ours takes less. PSS is the fair figure: pages a fork shares count once")
        print("for the tree; RSS counts them again in every process that maps them.")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, measure, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.footprint", description=__doc__)
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS, metavar="N")
    parser.add_argument(
        "--only",
        default="ours,celery,dramatiq",
        metavar="A,B",
        help="systems to run: ours, celery, dramatiq",
    )
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.only.split(",") if f.strip()]
    try:
        results = Footprint(max(1, args.reps), families).run()
    except BenchError as exc:
        print(f"bench.footprint: {exc}", file=sys.stderr)
        return 1
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
