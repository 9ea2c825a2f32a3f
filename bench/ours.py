"""Our engine in the suite: workers, producer, and what the database says happened.

Workers are ``queueconsole worker`` processes on a scratch database and a
private namespace and vhost; the producer is a subprocess
(``python -m bench.ours produce …``) that submits through
``engine.runtime.wiring.open_client`` — commit, then a confirmed publish —
exactly as an application would. Completion and latency are read from the
jobs' own rows (``finished_at``, ``started_at − created_at``, both on the
database clock), not from a side channel: a job counts once PostgreSQL says
it is completed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from bench.harness import (
    BenchError,
    BrokerProbe,
    Processes,
    Vhost,
    command_seconds,
    console_script,
    delete_prefixed,
    percentile,
    python_env,
    redis_client,
    submit_latency,
    tree_memory,
    wait_for_consumers,
    wait_until,
)
from engine.broker.names import Names
from engine.config import Settings, load_settings
from engine.db.database import Database
from engine.specs import JobSpec

if TYPE_CHECKING:
    from engine.client import Client

SYSTEM = "ours"
JOB_TYPE = "bench.noop"
"""Registered by :mod:`bench.ours_jobs` (not imported here: the suite must load without
the worker runtime)."""
READY_TIMEOUT_S = 60.0  # seconds for workers to start consuming
POLL_S = 0.05  # seconds between looks at the database while waiting for warm-up jobs
DONE_POLL_S = 0.25
"""Seconds between looks for unfinished jobs after a run's last submit. The completed
rate comes from ``max(finished_at)``, not from when we look; looking reads every job of
the run (with its dead row versions), and 20 looks a second cost PostgreSQL a fifth of a
core that the workers under test would otherwise have."""
WARMUP_JOBS = 4  # untimed jobs before the clock starts (imports, connections)
SETTLE_S = 1.0  # seconds an idle worker sits before its memory is read
MAX_SUBMISSION = 100_000  # jobs per submit_many (engine.specs.MAX_WORKFLOW_JOBS)
TERMINAL_FAILURES = ("failed", "blocked", "cancelled")


def runtime_missing(python: str = sys.executable) -> str | None:
    """Why our runtime cannot be benchmarked here, or None when it can.

    The runtime is there when ``engine.runtime.wiring.open_client`` imports and
    ``queueconsole worker --help`` answers.
    """
    try:
        if importlib.util.find_spec("engine.runtime.wiring") is None:
            return "runtime not available"
    except ImportError:
        return "runtime not available"
    probe = subprocess.run(
        [
            python,
            "-c",
            "from engine.runtime.wiring import open_client\n"
            "from queueconsole.cli.main import main\n"
            "raise SystemExit(main(['worker', '--help']))",
        ],
        capture_output=True,
        timeout=60,
        env=python_env({}),
    )
    return None if probe.returncode == 0 else "runtime not available"


class Ours:
    """Runs our engine's side of each measurement.

    Args:
        settings: a migrated scratch database and a private namespace; its
            ``amqp_url`` points at the run's private vhost.
        procs: starts and stops every process.
        vhost: the run's broker vhost (for clean-up when it is shared).
        prefetch: ``queueconsole worker --prefetch``; None keeps the worker's default.
        batch: jobs per ``submit_many`` while the workers run.
        redis_prefix: this suite run's Redis keys start with it.
        loop: the suite's event loop, on which the database pool lives.
    """

    def __init__(
        self,
        settings: Settings,
        procs: Processes,
        vhost: Vhost,
        *,
        prefetch: int | None,
        batch: int,
        redis_prefix: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.procs = procs
        self.vhost = vhost
        self.prefetch = prefetch
        self.batch = batch
        self.redis_prefix = redis_prefix
        self.names = Names(settings.namespace)
        vhost.forget_later(
            queues=[self.names.dead_letter_queue],
            exchanges=[
                self.names.work_exchange,
                self.names.dead_letter_exchange,
                self.names.control_exchange,
            ],
        )
        self.probe = BrokerProbe(settings.amqp_url)
        self.loop = loop
        self.db = Database(settings, application_name="qcbench")

    # -- process plumbing -----------------------------------------------------

    def env(self) -> dict[str, str]:
        """Our processes' environment: this run's services, the bench job module."""
        env = python_env(
            {
                "QUEUECONSOLE_DATABASE_URL": self.settings.database_url,
                "QUEUECONSOLE_AMQP_URL": self.settings.amqp_url,
                "QUEUECONSOLE_REDIS_URL": self.settings.redis_url,
                "QUEUECONSOLE_NAMESPACE": self.settings.namespace,
                "QUEUECONSOLE_JOB_MODULES": "bench.ours_jobs",
                "BENCH_REDIS_URL": self.settings.redis_url,
            }
        )
        env.pop("QUEUECONSOLE_CONFIG", None)  # a config file would override the above
        return env

    def prefetch_label(self) -> str:
        """The prefetch the workers run with, for the configuration column."""
        if self.prefetch is not None:
            return f"prefetch {self.prefetch}"
        try:
            from engine.worker.process import WorkerOptions

            return f"prefetch {WorkerOptions().prefetch} (default)"
        except (ImportError, AttributeError, TypeError):
            return "default prefetch"

    def _workers(self, queue: str, processes: int, prefetch: int | None) -> list[Any]:
        self.vhost.forget_later(queues=[self.names.queue(queue)])
        workers = [
            self.procs.start(
                f"ours-worker-{queue}-{i}",
                [
                    self.procs.python,
                    "-m",
                    "queueconsole",
                    "worker",
                    "--queues",
                    queue,
                    *(() if prefetch is None else ("--prefetch", str(prefetch))),
                ],
                self.env(),
            )
            for i in range(processes)
        ]
        wait_for_consumers(
            self.probe,
            self.names.queue(queue),
            processes,
            timeout_s=READY_TIMEOUT_S,
            watch=workers,
        )
        return workers

    def _produce(self, mode: str, queue: str, timeout_s: float, *args: str) -> dict[str, Any]:
        key = f"{self.redis_prefix}{queue}"
        proc = self.procs.start(
            f"ours-producer-{queue}",
            [
                self.procs.python,
                "-m",
                "bench.ours",
                "produce",
                mode,
                "--queue",
                queue,
                "--key",
                key,
                *args,
            ],
            self.env(),
            capture=True,
        )
        return self.procs.result(proc, timeout_s)

    def _sql(self, query: str, **params: Any) -> list[Any]:
        async def go() -> list[Any]:
            async with self.db.transaction() as conn:
                result = await conn.execute(text(query), params)
                return list(result) if result.returns_rows else []

        return self.loop.run_until_complete(go())

    def _unfinished(self, queue: str, from_id: int) -> bool:
        rows = self._sql(
            "SELECT state, count(*) AS n FROM jobs WHERE state <> 'completed' "
            "AND queue = :queue AND id >= :from_id GROUP BY state",
            queue=queue,
            from_id=from_id,
        )
        counts = {r.state: r.n for r in rows}
        bad = {s: counts[s] for s in TERMINAL_FAILURES if counts.get(s)}
        if bad:
            raise BenchError(f"our jobs ended badly: {bad}")
        return bool(counts)

    def _wait_done(self, queue: str, from_id: int, timeout_s: float, watch: Sequence[Any]) -> None:
        wait_until(
            lambda: not self._unfinished(queue, from_id),
            timeout_s=timeout_s,
            interval_s=DONE_POLL_S,
            what=f"our jobs on {queue} to complete",
            watch=watch,
        )

    def reset(self) -> None:
        """Empty the engine's tables and this namespace's Redis keys between runs, so
        every repetition starts from the same small tables."""
        rows = self._sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version' AND tablename NOT LIKE 'bench\\_%'"
        )
        if rows:
            tables = ", ".join(f'"{r.tablename}"' for r in rows)
            self._sql(f"TRUNCATE {tables} RESTART IDENTITY")
            # Jobs without a tenant belong to 'default', which the migration added.
            self._sql("INSERT INTO tenants (name) VALUES ('default') ON CONFLICT DO NOTHING")
        client = redis_client(self.settings.redis_url)
        try:
            delete_prefixed(client, self.settings.namespace)
            delete_prefixed(client, self.redis_prefix)
        finally:
            client.close()

    def _finish(self, workers: Sequence[Any], queue: str) -> None:
        self.procs.stop(*workers)
        self.probe.delete([self.names.queue(queue)])
        self.reset()

    # -- measurements ---------------------------------------------------------

    def e2e(
        self, rep: int, n: int, timeout_s: float, *, producer: str = "e2e", callers: int = 1
    ) -> dict[str, float]:
        """n jobs submitted while 2 workers run: submit and completed jobs/s.

        ``producer`` is how they are submitted: ``e2e`` in ``submit_many`` batches,
        ``single`` one ``submit()`` at a time, ``callers``: ``callers`` concurrent
        tasks on one client, each calling ``submit()`` in a loop.
        """
        queue = f"{producer}-{rep}"
        workers = self._workers(queue, 2, self.prefetch)
        try:
            out = self._produce(
                producer,
                queue,
                timeout_s,
                "--n",
                str(n),
                "--batch",
                str(self.batch),
                "--callers",
                str(callers),
            )
            self._wait_done(queue, out["first_id"], timeout_s, workers)
            (row,) = self._sql(
                "SELECT extract(epoch FROM max(finished_at)) AS last, count(*) AS n "
                "FROM jobs WHERE queue = :queue AND id >= :from_id",
                queue=queue,
                from_id=out["first_id"],
            )
        finally:
            self._finish(workers, queue)
        if row.n != n:
            raise BenchError(f"{row.n} of our {n} jobs were found")
        return {
            "submit": n / (out["finished"] - out["started"]),
            "completed": n / (float(row.last) - out["started"]),
        }

    def tenants_e2e(self, rep: int, n: int, tenants: int, timeout_s: float) -> dict[str, float]:
        """As :meth:`e2e`, the jobs spread round-robin over ``tenants`` tenants of equal
        weight on one queue (1: every job the default tenant's, the plain claim)."""
        queue = f"tenants{tenants}-{rep}"
        if tenants > 1:
            self._sql(
                "INSERT INTO tenants (name) SELECT 't' || lpad(i::text, 3, '0') "
                "FROM generate_series(0, :k - 1) AS i ON CONFLICT DO NOTHING",
                k=tenants,
            )
        workers = self._workers(queue, 2, self.prefetch)
        try:
            out = self._produce(
                "e2e",
                queue,
                timeout_s,
                "--n",
                str(n),
                "--batch",
                str(self.batch),
                *(("--tenants", str(tenants)) if tenants > 1 else ()),
            )
            self._wait_done(queue, out["first_id"], timeout_s, workers)
            (row,) = self._sql(
                "SELECT extract(epoch FROM max(finished_at)) AS last, count(*) AS n "
                "FROM jobs WHERE queue = :queue AND id >= :from_id",
                queue=queue,
                from_id=out["first_id"],
            )
        finally:
            self._finish(workers, queue)
        if row.n != n:
            raise BenchError(f"{row.n} of our {n} jobs were found")
        return {"completed": n / (float(row.last) - out["started"])}

    def tenants_fairness(self, rep: int, n: int, small: int, timeout_s: float) -> dict[str, float]:
        """A tenant floods one queue with ``n`` jobs, another submits ``small`` just after:
        how long until the last of the small tenant's jobs started, and the share of the
        flood done by then."""
        from engine.runtime.wiring import open_client

        queue = f"fairness-{rep}"
        self._sql("INSERT INTO tenants (name) VALUES ('flood'), ('small') ON CONFLICT DO NOTHING")
        workers = self._workers(queue, 2, self.prefetch)

        async def submit() -> tuple[float, list[int]]:
            async with open_client(self.settings) as client:
                spec = JobSpec(JOB_TYPE, payload={"key": "fairness"}, queue=queue, tenant="flood")
                for first in range(0, n, MAX_SUBMISSION):
                    await client.submit_many([spec] * min(MAX_SUBMISSION, n - first))
                mark = time.time()
                few = [dataclasses.replace(spec, tenant="small")] * small
                return mark, [s.id for s in await client.submit_many(few)]

        try:
            mark, ids = self.loop.run_until_complete(submit())
            self._wait_done(queue, ids[0] - n, timeout_s, workers)
            (row,) = self._sql(
                "SELECT extract(epoch FROM max(started_at)) AS last FROM jobs WHERE id = ANY(:ids)",
                ids=ids,
            )
            (done,) = self._sql(
                "SELECT count(*) AS n FROM jobs WHERE queue = :queue AND tenant = 'flood' "
                "AND finished_at <= to_timestamp(:t)",
                queue=queue,
                t=float(row.last),
            )
        finally:
            self._finish(workers, queue)
        return {"wait": float(row.last) - mark, "flood_done": 100.0 * int(done.n) / n}

    def latency(self, rep: int, rate: float, seconds: float) -> dict[str, float]:
        """Submit-to-start at a steady light rate with idle workers: p50 and p99 in ms."""
        queue = f"latency-{rep}"
        timeout_s = seconds + 120
        workers = self._workers(queue, 2, self.prefetch)
        try:
            out = self._produce(
                "latency", queue, timeout_s, "--rate", str(rate), "--seconds", str(seconds)
            )
            self._wait_done(queue, out["first_id"], 120, workers)
            rows = self._sql(
                "SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM jobs "
                "WHERE queue = :queue AND id >= :from_id",
                queue=queue,
                from_id=out["first_id"],
            )
        finally:
            self._finish(workers, queue)
        waits = [float(r.ms) for r in rows]
        return {
            "p50": percentile(waits, 50),
            "p99": percentile(waits, 99),
            **submit_latency(out, "submit_us"),
        }

    def bulk(self, rep: int, n: int, workflow_n: int, timeout_s: float) -> dict[str, float]:
        """n independent jobs in one submit_many (jobs/s); a workflow of ``workflow_n`` jobs
        with twice as many edges in one submit_workflow (seconds). No worker runs."""
        queue = f"bulk-{rep}"
        self.vhost.forget_later(queues=[self.names.queue(queue)])
        try:
            out = self._produce("bulk", queue, timeout_s, "--n", str(n))
            wf = self._produce("workflow", queue, timeout_s, "--n", str(workflow_n))
        finally:
            self._finish([], queue)
        return {
            "bulk": n / (out["finished"] - out["started"]),
            "workflow": wf["finished"] - wf["started"],
        }

    def memory(self, rep: int) -> dict[str, float]:
        """Resident memory of one idle worker process, once it consumes."""
        queue = f"memory-{rep}"
        workers = self._workers(queue, 1, self.prefetch)
        try:
            time.sleep(SETTLE_S)
            return tree_memory(workers[0].popen.pid)
        finally:
            self._finish(workers, queue)

    def engine_memory(self, rep: int, workers: int = 2) -> dict[str, float]:
        """Resident memory of ``queueconsole engine`` idle: the supervisor and its
        ``workers`` worker processes, once every worker consumes."""
        queue = f"engine-{rep}"
        self.vhost.forget_later(queues=[self.names.queue(queue)])
        engine = self.procs.start(
            "ours-engine",
            [
                *console_script(self.procs.python, "queueconsole"),
                "engine",
                "--workers",
                str(workers),
                "--queues",
                queue,
            ],
            self.env(),
        )
        try:
            wait_for_consumers(
                self.probe,
                self.names.queue(queue),
                workers,
                timeout_s=READY_TIMEOUT_S,
                watch=[engine],
            )
            time.sleep(SETTLE_S)
            return tree_memory(engine.popen.pid)
        finally:
            self._finish([engine], queue)

    def cli_seconds(self, rep: int, runs: int) -> dict[str, float]:
        """Median wall seconds of ``queueconsole submit`` from a shell (one job each run,
        after one untimed run); no worker runs."""
        queue = f"cli-{rep}"
        self.vhost.forget_later(queues=[self.names.queue(queue)])
        argv = [
            *console_script(self.procs.python, "queueconsole"),
            "submit",
            JOB_TYPE,
            "--payload",
            json.dumps({"key": f"{self.redis_prefix}{queue}"}),
            "--queue",
            queue,
        ]
        try:
            return {"seconds": command_seconds(argv, self.env(), runs)}
        finally:
            self._finish([], queue)

    def close(self) -> None:
        """Release the pool and the probe connection."""
        self.probe.close()
        self.loop.run_until_complete(self.db.close())


# -- the producer subprocess ----------------------------------------------------


async def _produce(args: argparse.Namespace) -> dict[str, Any]:
    from bench.submit import layered_workflow
    from engine.runtime.wiring import open_client

    settings = load_settings()
    payload = {"key": args.key}
    async with open_client(settings) as client:
        if args.mode in ("e2e", "latency", "single", "callers"):
            if args.mode == "e2e":
                warm = await client.submit_many(
                    [JobSpec(JOB_TYPE, payload=payload, queue=args.queue)] * WARMUP_JOBS
                )
            else:  # warm the path the timed loop takes
                warm = [
                    await client.submit(JOB_TYPE, payload, queue=args.queue)
                    for _ in range(WARMUP_JOBS)
                ]
            await _wait_completed(client.db, [s.id for s in warm])
        ids: list[int] = []
        submit_us: list[float] = []  # latency mode: how long each submit() blocked
        started = time.time()
        if args.mode == "single":
            for _ in range(args.n):
                ids.append((await client.submit(JOB_TYPE, payload, queue=args.queue)).id)
        elif args.mode == "callers":
            ids = await _concurrent_submits(client, args.n, args.callers, args.queue, payload)
        elif args.mode == "e2e":
            for first in range(0, args.n, args.batch):
                count = min(args.batch, args.n - first)
                specs = [JobSpec(JOB_TYPE, payload=payload, queue=args.queue)] * count
                if args.tenants:  # jobs of many tenants interleaved on one queue
                    specs = [
                        dataclasses.replace(s, tenant=f"t{(first + i) % args.tenants:03d}")
                        for i, s in enumerate(specs)
                    ]
                done = await client.submit_many(specs)
                ids.extend((done[0].id, done[-1].id))
        elif args.mode == "latency":
            total = max(1, round(args.rate * args.seconds))
            for i in range(total):
                delay = started + i / args.rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                before = time.perf_counter()
                ids.append((await client.submit(JOB_TYPE, payload, queue=args.queue)).id)
                submit_us.append((time.perf_counter() - before) * 1e6)
        elif args.mode == "bulk":
            specs = [JobSpec(JOB_TYPE, payload=payload, queue=args.queue)] * args.n
            started = time.time()
            for first in range(0, args.n, MAX_SUBMISSION):
                done = await client.submit_many(specs[first : first + MAX_SUBMISSION])
                ids.extend((done[0].id, done[-1].id))
        else:  # workflow
            width = min(1000, max(4, args.n // 10))
            specs = [
                dataclasses.replace(s, queue=args.queue, type=JOB_TYPE, payload=payload)
                for s in layered_workflow(args.n, width)
            ]
            started = time.time()
            wf = await client.submit_workflow(specs)
            ids.extend(wf.ids.values())
        finished = time.time()
    return {
        "started": started,
        "finished": finished,
        "first_id": min(ids),
        "last_id": max(ids),
        "submit_us": submit_us,
    }


async def _concurrent_submits(
    client: Client, n: int, callers: int, queue: str, payload: dict[str, Any]
) -> list[int]:
    """n jobs from ``callers`` tasks on one client, each calling ``submit()`` in a loop
    until n are taken, as the handlers of an async web app would; their ids."""
    remaining = n
    ids: list[int] = []

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1  # taken before the await: exactly n submits between the callers
            ids.append((await client.submit(JOB_TYPE, payload, queue=queue)).id)

    await asyncio.gather(*(caller() for _ in range(callers)))
    return ids


async def _wait_completed(db: Database, ids: list[int], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        async with db.connection() as conn:
            done = (
                await conn.execute(
                    text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND state = 'completed'"),
                    {"ids": ids},
                )
            ).scalar_one()
        if done == len(ids):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"warm-up jobs not completed after {timeout_s:.0f} s")
        await asyncio.sleep(POLL_S)


def main() -> None:
    parser = argparse.ArgumentParser(description="our producer for the benchmark suite")
    parser.add_argument("role", choices=("produce",))
    parser.add_argument("mode", choices=("e2e", "single", "callers", "latency", "bulk", "workflow"))
    parser.add_argument("--queue", required=True)
    parser.add_argument("--key", required=True, help="Redis key the job bodies report to")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--callers", type=int, default=50, help="concurrent tasks (callers)")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--tenants", type=int, default=0, help="e2e: spread the jobs over t000…: round-robin"
    )
    args = parser.parse_args()
    result = asyncio.run(_produce(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
