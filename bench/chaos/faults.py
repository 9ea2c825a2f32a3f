"""The seven faults, each injected once the run is well under way.

Every fault is bounded: loops stop after a number of rounds or once most of
the work has ended, and each wait is bounded by the run's settle timeout.
One-off faults strike when :attr:`Timing.fault_at` of the jobs have ended, so
the workload is mid-flight (the producer keeps submitting throughout).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
from sqlalchemy import text

from bench.chaos.measure import Fault
from bench.chaos.proxy import CommitCutter
from bench.chaos.runner import (
    POLL_S,
    Chaos,
    ChaosError,
    Row,
    RunOptions,
    Services,
    Stage,
    now,
    run_scenario,
)
from bench.chaos.workload import BATCH
from engine.broker.admin import purge
from localservices import PrivatePostgres, PrivateRabbitMQ, PrivateRedis

CONSUMER_TIMEOUT_MS = 3000
"""The short ``consumer_timeout`` of the consumer-timeout scenario."""
LONG_JOB_S = 3 * CONSUMER_TIMEOUT_MS / 1000
"""How long that scenario's long jobs run: three times the timeout."""
LONG_JOBS = 4  # one per queue
CUT_FOR_S = 60.0  # seconds the proxy stays armed at most
ACK_TIMEOUT_LOG = "delivery acknowledgement"
"""What RabbitMQ's log says when it closes a channel for an ack that came too late."""

_LONG_RUNS = text(
    f"""
    SELECT count(*) FILTER (WHERE j.state IN ('completed', 'failed', 'cancelled')) AS ended,
           count(*) AS total, coalesce(sum(j.attempts), 0) AS attempts,
           (SELECT min(e.at) FROM job_events e JOIN jobs l ON l.id = e.job_id
             WHERE l.payload->>'{BATCH}' = 'long' AND e.to_state = 'running') AS first_start,
           (SELECT max(e.at) FROM job_events e JOIN jobs l ON l.id = e.job_id
             WHERE l.payload->>'{BATCH}' = 'long' AND e.from_state = 'running'
               AND e.to_state <> 'running') AS last_end
    FROM jobs j WHERE j.payload->>'{BATCH}' = 'long'
    """
)


@dataclass(frozen=True, slots=True)
class Timing:
    """When and how hard the faults strike (the test suite uses a quicker plan)."""

    fault_at: float = 0.3
    """Share of the jobs ended when a one-off fault strikes."""
    kill_from: float = 0.1
    kill_until: float = 0.85
    kill_interval_s: float = 3.0
    max_kills: int = 40
    broker_down_s: float = 3.0
    postgres_down_s: float = 8.0
    """Longer than the engine's heartbeat timeout (5 s): no heartbeat can land meanwhile,
    and no worker may be presumed lost for it."""
    redis_flush_to_stop_s: float = 2.0
    redis_down_s: float = 3.0
    supervisor_down_s: float = 2.0
    cut_probability: float = 0.02
    """Share of the engine's transaction ends the cut-commits proxy cuts while armed."""
    orphan_wait_s: float = 60.0
    """How long the killed supervisor's workers are watched before the harness kills them."""


Setup = Callable[[Services], AbstractAsyncContextManager[Stage | None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One named fault and what it needs."""

    name: str
    summary: str
    inject: Callable[[Chaos, Timing], Awaitable[None]]
    needs: tuple[str, ...] = ()
    """Private servers the fault stops or reconfigures: ``postgres``, ``redis``, ``rabbitmq``."""
    long_jobs: tuple[float, ...] = ()
    setup: Setup | None = None
    """Around the whole scenario, engine start included (e.g. a broker setting)."""


def _server(chaos: Chaos, key: str) -> Any:
    server = getattr(chaos.services, key)
    if server is None:
        raise ChaosError(f"scenario {chaos.name} needs a private {key} server to break")
    return server


async def kill_workers(chaos: Chaos, timing: Timing) -> None:
    """``kill -9`` of a random worker every few seconds while most of the work runs."""
    await chaos.wait_progress(timing.kill_from)
    kills = 0
    for _ in range(timing.max_kills):
        seen = await chaos.progress()
        if seen is not None and seen[0] >= timing.kill_until * chaos.planned:
            break
        at = now()
        pid = chaos.engine.kill_worker(chaos.rng)
        if pid is not None:
            kills += 1
            chaos.faults.append(Fault(at, at))
        await asyncio.sleep(timing.kill_interval_s)
    chaos.facts["kills"] = kills
    chaos.say(f"killed {kills} workers")
    chaos.notes.append(
        f"kill -9 of a random worker every {timing.kill_interval_s:g} s: {kills} kills"
    )


async def _outage(chaos: Chaos, server: Any, down_s: float, what: str, share: float) -> None:
    """Stop a private server, keep it down, start it again on the same port and data."""
    began = now()
    started = time.monotonic()
    await chaos.blocking(server.stop)
    chaos.say(f"{what} stopped")
    await asyncio.sleep(down_s)
    await chaos.blocking(server.start)
    ended = now()
    chaos.faults.append(Fault(began, ended))
    took = time.monotonic() - started
    chaos.say(f"{what} back after {took:.1f} s")
    chaos.notes.append(
        f"{what} stopped at {share:.0%} done and started again: down {took:.1f} s "
        f"(stop, {down_s:g} s off, boot)"
    )


async def restart_broker(chaos: Chaos, timing: Timing) -> None:
    """RabbitMQ stopped and started again mid-run."""
    node: PrivateRabbitMQ = _server(chaos, "rabbitmq")
    await chaos.wait_progress(timing.fault_at)
    await _outage(chaos, node, timing.broker_down_s, "RabbitMQ", timing.fault_at)


async def restart_postgres(chaos: Chaos, timing: Timing) -> None:
    """PostgreSQL stopped (fast shutdown: clients cut off) and started again mid-run."""
    server: PrivatePostgres = _server(chaos, "postgres")
    await chaos.wait_progress(timing.fault_at)
    await _outage(chaos, server, timing.postgres_down_s, "PostgreSQL", timing.fault_at)


async def flush_redis(chaos: Chaos, timing: Timing) -> None:
    """Redis ``FLUSHALL``, then Redis stopped and started again (empty) mid-run."""
    server: PrivateRedis = _server(chaos, "redis")
    await chaos.wait_progress(timing.fault_at)
    began = now()
    await chaos.blocking(server.flushall)
    chaos.say("Redis flushed")
    await asyncio.sleep(timing.redis_flush_to_stop_s)
    started = time.monotonic()
    await chaos.blocking(server.stop)
    await asyncio.sleep(timing.redis_down_s)
    await chaos.blocking(server.start)
    chaos.faults.append(Fault(began, now()))
    took = time.monotonic() - started
    chaos.say(f"Redis back after {took:.1f} s")
    chaos.notes.append(
        f"FLUSHALL at {timing.fault_at:.0%} done, {timing.redis_flush_to_stop_s:g} s later "
        f"Redis stopped and started again empty: down {took:.1f} s"
    )


async def purge_queues(chaos: Chaos, timing: Timing) -> None:
    """Every work queue of the namespace purged mid-run."""
    await chaos.wait_progress(timing.fault_at)
    at = now()
    purged = await purge(chaos.settings, chaos.options.queues)
    chaos.faults.append(Fault(at, now()))
    total = sum(purged.values())
    chaos.facts["purged"] = total
    chaos.say(f"purged {total} messages")
    chaos.notes.append(
        f"purged the {len(purged)} work queues at {timing.fault_at:.0%} done: "
        f"{total:,} ready messages dropped"
    )


async def kill_supervisor(chaos: Chaos, timing: Timing) -> None:
    """``kill -9`` of the engine process (supervisor and services), then a fresh one.

    Its workers lose their parent. They must not carry on unsupervised (nobody
    would drain, scale or restart them): they are expected to notice and drain.
    The note says whether they did, and how long it took.
    """
    await chaos.wait_progress(timing.fault_at)
    began = now()
    old = chaos.engine
    orphans = old.crash()
    chaos.say(f"killed the engine (pid {old.pid}); {len(orphans)} workers orphaned")
    await asyncio.sleep(timing.supervisor_down_s)
    engine = chaos.launch_engine()
    chaos.faults.append(Fault(began, now()))
    watch = asyncio.create_task(_outlive(orphans, timing.orphan_wait_s), name="orphans")
    took = await engine.wait_ready(chaos.db)
    chaos.say(f"engine pid {engine.pid} up with {engine.expected_workers} workers in {took:.1f} s")
    left, after = await watch
    chaos.facts["orphans"] = len(orphans)
    chaos.facts["orphans_left"] = left
    what = (
        f"engine killed at {timing.fault_at:.0%} done, restarted "
        f"{timing.supervisor_down_s:g} s later; "
    )
    if left:
        chaos.notes.append(
            what + f"{left} of its {len(orphans)} workers were still running {after:.0f} s "
            "later, unsupervised (the harness killed them)"
        )
    else:
        chaos.notes.append(
            what + f"its {len(orphans)} orphaned workers drained and exited within {after:.1f} s"
        )


async def _outlive(processes: list[psutil.Process], limit_s: float) -> tuple[int, float]:
    """(how many of ``processes`` still run, seconds waited): waits until none or the limit."""
    began = time.monotonic()
    while True:
        alive = [p for p in processes if _running(p)]
        waited = time.monotonic() - began
        if not alive or waited >= limit_s:
            return len(alive), waited
        await asyncio.sleep(POLL_S)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@contextlib.asynccontextmanager
async def _short_consumer_timeout(services: Services) -> AsyncIterator[None]:
    """The broker's consumer timeout set short before the engine opens its channels."""
    node = services.rabbitmq
    if node is None:
        raise ChaosError("consumer-timeout needs a private RabbitMQ node to reconfigure")
    previous = node.consumer_timeout_ms
    await asyncio.to_thread(node.set_consumer_timeout, CONSUMER_TIMEOUT_MS)
    try:
        yield
    finally:
        await asyncio.to_thread(node.set_consumer_timeout, previous)


async def consumer_timeout(chaos: Chaos, timing: Timing) -> None:
    """Jobs that run three times the broker's consumer timeout, among the rest.

    The fault is the timeout expiring while they run: from the first long run's
    start plus the timeout until the last long run ended. A worker that still
    held their deliveries would have its channel closed (and the RabbitMQ log
    would say so); the note counts those closures.
    """
    node: PrivateRabbitMQ = _server(chaos, "rabbitmq")
    log_path = node.node_log_path
    offset = log_path.stat().st_size if log_path.exists() else 0
    deadline = time.monotonic() + chaos.options.settle_timeout_s
    row = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            async with chaos.db.connection() as conn:
                row = (await conn.execute(_LONG_RUNS)).one()
            if row.total and row.ended == row.total:
                break
        await asyncio.sleep(POLL_S)
    if row is None or not row.total or row.ended != row.total:
        raise ChaosError("the long jobs did not end in time")
    began = row.first_start + timedelta(milliseconds=CONSUMER_TIMEOUT_MS)
    chaos.faults.append(Fault(began, max(began, row.last_end)))
    closed = _count_after(log_path, offset, ACK_TIMEOUT_LOG)
    chaos.facts["channels_closed"] = closed
    chaos.facts["long_attempts"] = row.attempts
    chaos.notes.append(
        f"consumer_timeout {CONSUMER_TIMEOUT_MS} ms; {row.total} jobs of {LONG_JOB_S:g} s ran "
        f"{row.attempts} attempt(s) in all; the broker closed {closed} channel(s) for late acks"
    )


def _count_after(path: Path, offset: int, needle: str) -> int:
    """How often ``needle`` occurs in ``path`` after byte ``offset``."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read().decode(errors="replace")
    except OSError:
        return 0
    return data.count(needle)


@contextlib.asynccontextmanager
async def _behind_a_cutting_proxy(services: Services) -> AsyncIterator[Stage]:
    """The engine's connections to PostgreSQL through a :class:`CommitCutter` (disarmed)."""
    parts = urlsplit(services.settings.database_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise ChaosError("cut-commits needs PostgreSQL on 127.0.0.1 with an explicit port")
    cutter = CommitCutter(parts.port, 0.0, seed=len(services.settings.namespace))
    await cutter.start()
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{cutter.port}"
    url = urlunsplit(parts._replace(netloc=netloc))
    try:
        yield Stage(engine_settings=services.settings.evolve(database_url=url), prop=cutter)
    finally:
        await cutter.close()


async def cut_commits(chaos: Chaos, timing: Timing) -> None:
    """Connections of the engine to PostgreSQL cut right after the server ended a
    transaction, before the engine heard: commits in doubt, while most of the work runs."""
    cutter: CommitCutter = chaos.stage.prop

    def cut() -> None:
        at = now()
        chaos.faults.append(Fault(at, at))

    cutter.on_cut = cut
    cutter.probability = timing.cut_probability
    await chaos.wait_progress(timing.kill_from)
    cutter.armed = True
    armed_at = time.monotonic()
    try:
        while time.monotonic() - armed_at < CUT_FOR_S:
            seen = await chaos.progress()
            if seen is not None and seen[0] >= timing.kill_until * chaos.planned:
                break
            await asyncio.sleep(POLL_S)
    finally:
        cutter.armed = False
    chaos.facts["cuts"] = cutter.cuts
    chaos.say(f"cut {cutter.cuts} of {cutter.transactions} transaction ends")
    chaos.notes.append(
        f"the engine's connections to PostgreSQL cut right after {cutter.cuts} of "
        f"{cutter.transactions:,} transaction ends ({timing.cut_probability:.0%}): committed, "
        "and the engine never heard"
    )


EXTRA: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "cut-commits",
            "the engine's database connections cut between commit and reply",
            cut_commits,
            setup=_behind_a_cutting_proxy,
        ),
    )
}
"""Scenarios beyond the issue's seven, run only when named."""


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("kill-workers", "kill -9 of a random worker every few seconds", kill_workers),
        Scenario(
            "restart-broker",
            "RabbitMQ stopped and restarted mid-run",
            restart_broker,
            ("rabbitmq",),
        ),
        Scenario(
            "restart-postgres",
            "PostgreSQL stopped and restarted mid-run",
            restart_postgres,
            ("postgres",),
        ),
        Scenario(
            "flush-redis", "Redis FLUSHALL, then stopped and restarted", flush_redis, ("redis",)
        ),
        Scenario("purge-queues", "the broker's work queues purged mid-run", purge_queues),
        Scenario("kill-supervisor", "the supervisor killed and restarted", kill_supervisor),
        Scenario(
            "consumer-timeout",
            "jobs that outlive the broker's consumer_timeout",
            consumer_timeout,
            ("rabbitmq",),
            long_jobs=(LONG_JOB_S,) * LONG_JOBS,
            setup=_short_consumer_timeout,
        ),
    )
}
"""Every scenario by name, in the order a full run takes them."""


async def run(
    scenario: Scenario,
    services: Services,
    options: RunOptions,
    *,
    timing: Timing = Timing(),
    log_dir: Path,
) -> Row:
    """Run one scenario on ``services`` (its own database and namespace) and tally it."""
    missing = [key for key in scenario.needs if getattr(services, key) is None]
    if missing:
        raise ChaosError(f"scenario {scenario.name} needs private servers: {', '.join(missing)}")
    setup = scenario.setup(services) if scenario.setup else contextlib.nullcontext()
    async with setup as stage:
        return await run_scenario(
            scenario.name,
            services,
            options,
            lambda chaos: scenario.inject(chaos, timing),
            long_jobs=scenario.long_jobs,
            log_dir=log_dir,
            stage=stage,
        )
