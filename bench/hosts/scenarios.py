"""What the many-hosts run measures: throughput per host count, a partition, a remote scale.

Every scenario gets a scratch database and broker namespace of its own on the shared
servers (:func:`scratch`), so its figures come from its own ``jobs`` and ``job_events``
and nothing it leaves can skew the next. Figures are read from PostgreSQL, the source of
truth, never from what the harness remembers:

- **claim conflicts**: the notes a claim writes when a message's job was no longer
  QUEUED at that attempt (``stale message … ignored``): a second copy of a message, or a
  host that claimed a job another host already held — the engine's contention signal;
- **lost** / **completed twice**: :func:`bench.chaos.measure.tally` (non-terminal jobs at
  the end; jobs with more than one COMPLETED event);
- **partition**: which runs the cut-off host held when its link went down, when the
  rescuer handed each back (``WorkerLost``), when another host completed it, and how many
  completions the cut-off host tried to write after the link came back (its workers log
  each refusal by the attempt fence).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench.chaos.measure import Tally, tally
from bench.chaos.workload import Batch, Mix, build, count
from bench.hosts.fleet import (
    POLL_S,
    CpuMeter,
    EngineFlags,
    Fleet,
    over_link,
    postgres_backends,
    processes_named,
)
from bench.netns import Network
from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings, to_environ
from engine.db.database import Database
from engine.db.migrate import drop_database, migrate
from engine.runtime.wiring import open_client

Say = Callable[[str], None]

SETTLE_TIMEOUT_S = 300.0  # seconds a scenario's jobs may take to end before the rest are lost
FENCED_RE = re.compile(r"\d+ late completion\(s\) refused by the attempt fence \(jobs ([\d, ]+)\)")
THROUGHPUT_MIX = Mix(
    workflow_share=0.4,
    workflow_size=20,
    workflow_width=5,
    flaky_share=0.0,
    doomed_share=0.0,
    sleep_share=0.1,
    sleep_s=(0.005, 0.02),
)
"""Independent jobs and workflows, nothing failing on purpose: every job ends COMPLETED,
so anything else is a loss the partition caused."""

_DONE = text(
    "SELECT count(*) FILTER (WHERE state IN ('completed', 'failed', 'cancelled')) AS done, "
    "count(*) AS total FROM jobs"
)
_CLAIM_CONFLICTS = text(
    "SELECT count(*) FROM job_events WHERE from_state = to_state AND reason LIKE 'stale message%'"
)
_RUNNING_ON = text(
    "SELECT j.id, j.attempts FROM jobs j JOIN workers w ON w.id = j.worker_id "
    "WHERE j.state = 'running' AND w.host = :host ORDER BY j.id"
)
# A run the worker itself reported (its heartbeat names the job): the claim's answer
# reached the host, so the host really runs it, and a late completion will follow.
_RUNNING_KNOWN = text(
    "SELECT j.id FROM jobs j JOIN workers w ON w.id = j.worker_id "
    "WHERE j.state = 'running' AND w.host = :host AND w.current_job_id = j.id ORDER BY j.id"
)
_RESCUED = text(
    """
    SELECT e.job_id, extract(epoch FROM min(e.at))::float8 AS at_s FROM job_events e
    WHERE e.job_id = ANY(:ids) AND e.from_state = 'running'
      AND e.to_state IN ('retrying', 'failed') AND e.reason LIKE 'WorkerLost:%'
    GROUP BY e.job_id
    """
)
_COMPLETED_BY = text(
    """
    SELECT e.job_id, extract(epoch FROM e.at)::float8 AS at_s, coalesce(w.host, '?') AS host
    FROM job_events e LEFT JOIN workers w ON w.id = e.worker_id
    WHERE e.job_id = ANY(:ids) AND e.to_state = 'completed' AND e.from_state = 'running'
    """
)
_SECOND_RUNS = text(
    "SELECT count(DISTINCT job_id) FROM job_events WHERE job_id = ANY(:ids) "
    "AND to_state = 'running' AND from_state IS DISTINCT FROM to_state AND attempt > 1"
)
_NOW_S = text("SELECT extract(epoch FROM clock_timestamp())::float8")
_CONNECTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name LIKE 'queueconsole%' AND client_addr IS NOT NULL"
)


@contextlib.asynccontextmanager
async def scratch(settings: Settings, label: str) -> AsyncIterator[Settings]:
    """A migrated database and a namespace of their own; dropped (broker queues too) after."""
    tag = f"{os.getpid()}_{label}_{secrets.token_hex(2)}"
    db_url = settings.database_url.rsplit("/", 1)[0] + f"/qchosts_{tag}"
    own = settings.evolve(database_url=db_url, namespace=f"qch-{tag}".replace("_", "-"))
    await migrate(own)
    try:
        yield own
    finally:
        with contextlib.suppress(Exception):
            await delete_namespace(own, Names(own.namespace), ["hosts"])
        await drop_database(own)


async def submit_all(client: Client, batches: Sequence[Batch]) -> None:
    """Every batch, in order (the fleet runs while this submits)."""
    for batch in batches:
        if batch.workflow:
            await client.submit_workflow(batch.specs, name=f"hosts {batch.label}")
        else:
            await client.submit_many(batch.specs)


async def settle(db: Database, expected: int, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    """Wait until ``expected`` jobs exist and all ended; False at the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.connection() as conn:
            row = (await conn.execute(_DONE)).one()
        if row.total >= expected and row.done >= row.total:
            return True
        await asyncio.sleep(POLL_S)
    return False


async def db_now(db: Database) -> float:
    """PostgreSQL's clock (seconds since the epoch): event times are on it."""
    async with db.connection() as conn:
        return float(await conn.scalar(_NOW_S) or 0.0)


# -- throughput -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThroughputRow:
    hosts: int
    workers: int
    jobs: int
    seconds: float
    engines_cpu_s: float
    postgres_cpu_s: float
    rabbitmq_cpu_s: float
    redis_cpu_s: float
    claim_conflicts: int
    tally: Tally
    connections: int = 0
    """PostgreSQL connections the engines held at the end (pools stay open)."""

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


async def throughput(
    network: Network,
    settings: Settings,
    hosts: int,
    jobs: int,
    flags: EngineFlags,
    log_dir: Path,
    say: Say,
) -> ThroughputRow:
    """The workload through engines on ``hosts`` hosts, timed from first submit to last end."""
    batches = build(jobs, seed=7, mix=THROUGHPUT_MIX, queues=(flags.queue,))
    total = count(batches)
    async with scratch(settings, f"t{hosts}") as own:
        db = Database(own)
        fleet = Fleet(network, own, hosts, flags, log_dir / f"throughput-{hosts}")
        (log_dir / f"throughput-{hosts}").mkdir(parents=True, exist_ok=True)
        try:
            await fleet.start(db)
            say(f"{hosts} host(s) ready; submitting {total} jobs")
            meters = {k: CpuMeter() for k in ("engines", "postgres", "rabbitmq", "redis")}
            groups = {
                "engines": fleet.trees,
                "postgres": lambda: postgres_backends(own.database_name),
                "rabbitmq": lambda: processes_named(["beam.smp"]),
                "redis": lambda: processes_named(["redis-server"]),
            }
            for name, meter in meters.items():
                meter.start(groups[name]())
            began = time.monotonic()
            async with open_client(own, database=db) as client:
                await submit_all(client, batches)
            settled = await settle(db, total)
            seconds = time.monotonic() - began
            cpu = {name: meter.read(groups[name]()) for name, meter in meters.items()}
            async with db.connection() as conn:
                connections = int(await conn.scalar(_CONNECTIONS) or 0)
            if not settled:
                say(f"{hosts} host(s): jobs still open after {SETTLE_TIMEOUT_S:g} s")
            async with db.connection() as conn:
                conflicts = int(await conn.scalar(_CLAIM_CONFLICTS) or 0)
            counted = await tally(db)
        finally:
            await fleet.stop()
            await db.close()
    return ThroughputRow(
        hosts,
        hosts * flags.workers,
        total,
        seconds,
        cpu["engines"],
        cpu["postgres"],
        cpu["rabbitmq"],
        cpu["redis"],
        conflicts,
        counted,
        connections,
    )


# -- partition ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionRow:
    hosts: int
    jobs: int
    cut_host: str
    held: int
    """Runs the cut-off host held when its link went down."""
    rescued: int
    """Of those, runs the rescuer handed back (``WorkerLost``)."""
    completed_elsewhere: int
    """Of those, jobs another host completed while the link was down."""
    fenced: int
    """Completions the cut-off host tried after the link came back, refused by the fence."""
    known: int
    """Held runs the host's own heartbeats had reported before the cut (one per worker at
    most: a heartbeat names one job), surely run there and so surely coming back late. A
    held run may also be a claim whose answer the cut swallowed: rescued all the same, but
    never run on the host, so it cannot come back."""
    rescue_s: float
    """From the cut to the last of its runs handed back (heartbeat timeout + rescuer)."""
    recovery_s: float
    """From the cut to the last of its runs completed on another host."""
    heartbeat_timeout_s: float
    tally: Tally
    notes: tuple[str, ...] = field(default=())
    hiccup_s: float | None = None
    """How long the link was down when it was a hiccup (restored after a fixed time);
    None for a partition held until the host's runs completed elsewhere."""


async def partition(
    network: Network,
    settings: Settings,
    hosts: int,
    jobs: int,
    flags: EngineFlags,
    log_dir: Path,
    say: Say,
    *,
    long_job_s: float = 6.0,
    hiccup_s: float | None = None,
) -> PartitionRow:
    """Cut the last host's link while it runs long jobs; restore it once they ran elsewhere
    (or, with ``hiccup_s``, after that many seconds: shorter than the heartbeat timeout,
    nothing should be rescued and nothing run twice).

    Long jobs (``long_job_s`` each, one per worker of the fleet) are submitted first, so
    every host runs some when the cut lands; the rest of the workload flows around them.
    The cut-off host's own runs finish during the partition, and their completions wait in
    its stalled connections; once the link is back they arrive and the fence refuses them.
    """
    long_jobs = [long_job_s] * (hosts * flags.workers)
    batches = build(jobs, seed=11, mix=THROUGHPUT_MIX, long_jobs=long_jobs, queues=(flags.queue,))
    total = count(batches)
    notes: list[str] = []
    label = "partition" if hiccup_s is None else "hiccup"
    async with scratch(settings, label[0]) as own:
        db = Database(own)
        sub = log_dir / label
        sub.mkdir(parents=True, exist_ok=True)
        fleet = Fleet(network, own, hosts, flags, sub)
        victim = fleet.engines[-1]
        try:
            await fleet.start(db)
            async with open_client(own, database=db) as client:
                submitting = asyncio.create_task(submit_all(client, batches))
                known = await _wait_running(db, victim.host.name)
                cut_at = await db_now(db)
                network.cut(victim.host)
                # Read after the cut: from now on the host cannot claim anything more, so
                # this is exactly what it was running when it went dark.
                held = await _running_on(db, victim.host.name)
                say(f"{label}: cut {victim.host.name} holding {len(held)} run(s)")
                ids = [job_id for job_id, _ in held]
                try:
                    if hiccup_s is not None:
                        await asyncio.sleep(hiccup_s)
                        done_elsewhere = len(ids)
                    else:
                        done_elsewhere = await _wait_completed_elsewhere(
                            db, ids, victim.host.name, flags.heartbeat_timeout_s * 6 + long_job_s
                        )
                        # Let the cut-off host's own runs finish inside the partition, so it
                        # has completions to deliver late.
                        left = long_job_s - (await db_now(db) - cut_at)
                        await asyncio.sleep(max(0.0, left) + 1)
                finally:
                    network.restore(victim.host)
                say(f"{label}: {victim.host.name} restored")
                await submitting
            if not await settle(db, total):
                notes.append(f"jobs still open {SETTLE_TIMEOUT_S:g} s after the restore")
            async with db.connection() as conn:
                rescued = {r.job_id: r.at_s for r in await conn.execute(_RESCUED, {"ids": ids})}
                completions = list(await conn.execute(_COMPLETED_BY, {"ids": ids}))
            # Only a rescued run can come back late, and surely only one the host knew it
            # ran: wait for those refusals, count every rescued one refused.
            fenced = await _wait_fenced(
                victim.log_text,
                list(rescued),
                [i for i in known if i in rescued],
                flags.heartbeat_timeout_s * 6,
            )
            counted = await tally(db)
        finally:
            if network.is_cut(victim.host):
                network.restore(victim.host)
            await fleet.stop()
            await db.close()
    elsewhere = [c for c in completions if c.host != victim.host.name]
    if done_elsewhere < len(ids):
        notes.append(f"{len(ids) - done_elsewhere} run(s) not completed elsewhere during the cut")
    return PartitionRow(
        hosts=hosts,
        jobs=total,
        cut_host=victim.host.name,
        held=len(ids),
        rescued=len(rescued),
        completed_elsewhere=len(elsewhere),
        fenced=fenced,
        known=len([i for i in known if i in ids]),
        rescue_s=max((t - cut_at for t in rescued.values()), default=float("nan")),
        recovery_s=max((c.at_s - cut_at for c in elsewhere), default=float("nan")),
        heartbeat_timeout_s=flags.heartbeat_timeout_s,
        tally=counted,
        notes=tuple(notes),
        hiccup_s=hiccup_s,
    )


async def _running_on(db: Database, host: str) -> list[tuple[int, int]]:
    """The runs (job id, attempt) ``host``'s workers hold according to the database."""
    async with db.connection() as conn:
        return [(r.id, r.attempts) for r in await conn.execute(_RUNNING_ON, {"host": host})]


async def _wait_running(db: Database, host: str, timeout_s: float = 60.0) -> list[int]:
    """Until ``host``'s workers report running a job; returns the jobs they report."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.connection() as conn:
            known = [r.id for r in await conn.execute(_RUNNING_KNOWN, {"host": host})]
        if known:
            return known
        await asyncio.sleep(POLL_S / 4)
    raise RuntimeError(f"{host} never ran a job within {timeout_s:g} s")


async def _wait_completed_elsewhere(
    db: Database, ids: Sequence[int], host: str, timeout_s: float
) -> int:
    """Until every job in ``ids`` was completed by a host other than ``host``."""
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        async with db.connection() as conn:
            rows = list(await conn.execute(_COMPLETED_BY, {"ids": list(ids)}))
        done = len({r.job_id for r in rows if r.host != host})
        if done >= len(ids):
            return done
        await asyncio.sleep(POLL_S)
    return done


async def _wait_fenced(
    read_log: Callable[[], str], ids: Sequence[int], expected: Sequence[int], timeout_s: float
) -> int:
    """How many of ``ids`` the cut-off host's workers logged as refused by the fence, once
    every one of ``expected`` is (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        logged = {int(i) for m in FENCED_RE.finditer(read_log()) for i in m.group(1).split(",")}
        if set(expected) <= logged or time.monotonic() > deadline:
            return len(logged & set(ids))
        await asyncio.sleep(POLL_S)


# -- remote scale ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleRow:
    host: str
    before: dict[str, dict[str, int]]
    after: dict[str, dict[str, int]]
    exit_code: int
    answers: int


async def remote_scale(
    network: Network,
    settings: Settings,
    hosts: int,
    flags: EngineFlags,
    log_dir: Path,
    say: Say,
    *,
    workers: int = 1,
) -> ScaleRow:
    """``queueconsole scale --host`` from the first host to change the last host's workers,
    read back with ``queueconsole status --json`` (run inside a host too)."""
    async with scratch(settings, "s") as own:
        db = Database(own)
        sub = log_dir / "scale"
        sub.mkdir(parents=True, exist_ok=True)
        fleet = Fleet(network, own, hosts, flags, sub)
        target = fleet.engines[-1]
        operator = fleet.engines[0].host
        try:
            await fleet.start(db)
            before = await _status_hosts(own, network, operator.name)
            code, out, err = await _cli(
                own,
                network,
                operator.name,
                "scale",
                str(workers),
                "--queue",
                flags.queue,
                "--host",
                target.host.name,
                "--json",
            )
            if code != 0:
                say(f"scale --host failed ({code}): {err.strip()}")
            answers = len(json.loads(out)["answers"]) if out.strip() else 0
            await target.wait_ready(db, workers)
            after = await _wait_status(own, network, operator.name, target.host.name, workers)
        finally:
            await fleet.stop()
            await db.close()
    return ScaleRow(target.host.name, before, after, code, answers)


async def _cli(settings: Settings, network: Network, host: str, *args: str) -> tuple[int, str, str]:
    """``queueconsole ARGS`` run inside ``host``'s namespace, against the services there."""
    seen = over_link(settings, network.host(host))
    proc = await asyncio.create_subprocess_exec(
        *network.host(host).command([sys.executable, "-m", "queueconsole", *args]),
        env={**os.environ, **to_environ(seen)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def _status_hosts(
    settings: Settings, network: Network, host: str
) -> dict[str, dict[str, int]]:
    code, out, err = await _cli(settings, network, host, "status", "--json")
    if code != 0:
        raise RuntimeError(f"status --json on {host} failed ({code}): {err.strip()}")
    hosts: dict[str, dict[str, int]] = json.loads(out)["hosts"]
    return hosts


async def _wait_status(
    settings: Settings, network: Network, host: str, target: str, workers: int
) -> dict[str, dict[str, int]]:
    """``status --json``'s hosts once ``target`` shows ``workers`` (draining ones gone)."""
    deadline = time.monotonic() + 60.0
    while True:
        hosts = await _status_hosts(settings, network, host)
        if sum(hosts.get(target, {}).values()) == workers or time.monotonic() > deadline:
            return hosts
        await asyncio.sleep(0.5)
