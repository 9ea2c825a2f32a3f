"""Claims decided per tenant: fair share on shared queues, running limits everywhere.

RabbitMQ hands out a queue's messages in priority and arrival order, so on a
queue several tenants share, 100,000 messages of one tenant stand in front of
the 20 another submits a moment later. Here a message of a shared queue is a
*turn* on that queue rather than an order to run the job it names: the claim
serves the tenant with the least virtual time (``tenant_queues.pass``, stride
scheduling) that has a job waiting there and is below its running limit, and
advances that tenant's pass by ``1 / weight``. The named job is claimed when
its tenant's turn it is (the common case, one primary-key probe); otherwise
the chosen tenant's best waiting job is (priority, then age), and the named
job keeps waiting for a later turn — the chosen job's own message, still in
the broker, becomes that turn. One message is one claim either way, so every
job still runs once, and duplicates stay harmless (a turn with nothing left
to run claims nothing).

A tenant that has nothing waiting is skipped and brought up to the others'
virtual time, so it cannot bank the turns it did not take: with weights 3:1
and both tenants busy, three runs go to the first for each of the second's,
whatever the order and size of their submissions.

``max_running`` is decided here too, for every queue: the tenant's row is
locked (``FOR NO KEY UPDATE``) before its running jobs are counted in a later
statement of the same transaction, so two claims of one tenant on any worker
of any host take turns and the second counts the first one's runs. A job left
waiting at the limit is noted (``tenant T at its running limit 4/4``) and
published again by :mod:`engine.maintenance.tenant_release` once a run ends.

Claims on one shared queue are serialized by a transaction-scoped advisory
lock on its name (each holds it for a few milliseconds): the price of the
ledger, measured by ``python -m bench --only tenants``. Queues used by one
tenant without a running limit never come here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.db.connection import Connection
from engine.db.sql import Sql
from engine.queries.jobs import (
    JOB_CLAIM_CHOSEN,
    JOB_LOCK_NAMED,
    JOB_QUEUED_NEXT_OF_TENANT,
    JOB_TENANT_ROWS,
    JOB_WAIT_REASON_MANY,
)
from engine.queries.tenants import (
    TENANT_QUEUE_ADVANCE,
    TENANT_QUEUE_JOIN,
    TENANT_QUEUE_LEDGER,
    TENANT_RUNNING_LOCK,
    TENANT_RUNNING_MANY,
)

FAIR_LOCK_CLASS = 0x5146  # first key of the advisory locks that serialize a shared queue's claims
SLACK = 1.0  # runs (of weight 1) a tenant may be ahead of the least served and still go first

_QUEUE_LOCK = Sql("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:queue))")


def limit_reason(tenant: str, running: int, limit: int) -> str:
    """What a job waiting at its tenant's running limit shows."""
    return f"tenant {tenant} at its running limit {running}/{limit}"


@dataclass(slots=True)
class _Share:
    """One tenant's standing on one queue during a claim."""

    tenant: str
    pass_: float
    weight: float
    max_running: int | None
    moved: bool = False


@dataclass(slots=True)
class TenantClaim:
    """What the tenant-aware claim did with the messages the plain claim left."""

    rows: list[Any] = field(default_factory=list)
    """Rows of the claim statement for the jobs claimed (as the plain claim returns)."""
    handled: set[int] = field(default_factory=set)
    """Message job ids used as turns or left waiting on purpose: not stale, not noted."""


async def claim_for_tenants(
    conn: Connection, lost: Sequence[tuple[int, int]], worker_id: str
) -> TenantClaim:
    """Claim, per tenant rules, for the (job id, attempt) messages the plain claim left.

    Each queue's claims run in a transaction of their own (a savepoint inside
    a caller's transaction), holding the queue's and the limited tenants' locks
    for as long as the choice and the claim take.
    """
    out = TenantClaim()
    found = await conn.execute(JOB_TENANT_ROWS, {"ids": [i for i, _ in lost]})
    rows = {r["id"]: r for r in found.mappings()}
    turns: dict[str, list[tuple[int, int, Any]]] = {}
    shared_queues: set[str] = set()
    for job_id, attempt in lost:
        row = rows.get(job_id)
        if row is None or row["paused"]:
            continue
        if row["shared"]:
            shared_queues.add(row["queue"])
            turns.setdefault(row["queue"], []).append((job_id, attempt, row))
        elif row["state"] == "queued" and row["attempts"] == attempt:
            # A limited tenant's job; or one the plain claim took for a shared queue's
            # while the ledger upkeep was making the queue single-tenant again (claimed
            # here by its id, rather than left for the reconciler to publish again).
            turns.setdefault(row["queue"], []).append((job_id, attempt, row))
    for queue in sorted(turns):
        async with conn.begin_nested():
            await _claim_queue(conn, queue, turns[queue], queue in shared_queues, worker_id, out)
    return out


async def _claim_queue(
    conn: Connection,
    queue: str,
    turns: Sequence[tuple[int, int, Any]],
    shared: bool,
    worker_id: str,
    out: TenantClaim,
) -> None:
    named_tenants = sorted({row["tenant"] for _, _, row in turns})
    if shared:
        await conn.execute(_QUEUE_LOCK, {"lock_class": FAIR_LOCK_CLASS, "queue": queue})
        ledger = await _ledger(conn, queue)
        absent = [t for t in named_tenants if t not in ledger]
        if absent:
            # Jobs older than the ledger (submitted before tenants existed) join it here.
            await conn.execute(
                TENANT_QUEUE_JOIN, {"queues": [queue] * len(absent), "tenants": absent}
            )
            ledger = await _ledger(conn, queue)
    else:
        ledger = {
            row["tenant"]: _Share(row["tenant"], 0.0, float(row["weight"]), row["max_running"])
            for _, _, row in turns
        }
    running = await _lock_running(conn, ledger)
    named = {job_id for job_id, _, _ in turns}
    # The named jobs as they are now, under the locks: another worker's claim may have
    # taken one as its turn since JOB_TENANT_ROWS read it.
    current = {
        r["id"]: (r["state"], r["attempts"])
        for r in (await conn.execute(JOB_LOCK_NAMED, {"ids": sorted(named)})).mappings()
    }

    chosen: list[tuple[int, int]] = []
    taken: list[int] = []
    idle: set[str] = set()
    waiting: dict[int, str] = {}
    for job_id, attempt, row in turns:
        own = row["tenant"]
        named_ok = current.get(job_id) == ("queued", attempt) and job_id not in taken
        pick: tuple[int, int] | None = None
        for share in _turn_order(ledger, own if named_ok else None, idle, running):
            if share.tenant == own and named_ok:
                pick = (job_id, attempt)
            elif shared:
                pick = await _next_of(conn, share.tenant, queue, taken)
                if pick is None:
                    idle.add(share.tenant)
                    continue
            else:
                continue
            share.pass_ += 1.0 / share.weight
            share.moved = True
            running[share.tenant] = running.get(share.tenant, 0) + 1
            break
        out.handled.add(job_id)
        if pick is not None:
            chosen.append(pick)
            taken.append(pick[0])
            continue
        limited = ledger.get(own)
        if named_ok and limited is not None and limited.max_running is not None:
            waiting[job_id] = limit_reason(own, running.get(own, 0), limited.max_running)

    if shared:
        await _advance(conn, queue, ledger, idle)
    if waiting:
        await conn.execute(
            JOB_WAIT_REASON_MANY, {"ids": list(waiting), "reasons": list(waiting.values())}
        )
    if chosen:
        result = await conn.execute(
            JOB_CLAIM_CHOSEN,
            {
                "ids": [i for i, _ in chosen],
                "attempts": [a for _, a in chosen],
                "worker_id": worker_id,
            },
        )
        # In turn order, which is the order the worker starts them in: in id order (the
        # statement's), a batch of 200 turns at 3:1 would run the older tenant's 50 jobs
        # before the other's 150, and a window shorter than a few batches would be skewed.
        turn = {job_id: i for i, (job_id, _) in enumerate(chosen)}
        out.rows.extend(sorted(result.mappings(), key=lambda r: turn[r["id"]]))


def _turn_order(
    ledger: Mapping[str, _Share], own: str | None, idle: set[str], running: Mapping[str, int]
) -> list[_Share]:
    """Tenants that may take this turn, the one to serve first first.

    Least pass first, except that the named job's own tenant (``own``) goes first
    while it is less than :data:`SLACK` runs ahead of the least: its job is then
    claimed by its id, with no search for another tenant's, and no tenant drifts
    more than that from its share. ``own`` is never left out as idle: its job is
    right there, and a turn must not be lost while one can be taken.
    """
    eligible = [
        s
        for s in ledger.values()
        if (s.tenant not in idle or s.tenant == own) and not _at_limit(s, running)
    ]
    eligible.sort(key=lambda s: (s.pass_, s.tenant))
    if own is not None and eligible:
        mine = ledger.get(own)
        if mine in eligible and mine is not None and mine.pass_ - eligible[0].pass_ < SLACK:
            eligible.remove(mine)
            eligible.insert(0, mine)
    return eligible


async def _ledger(conn: Connection, queue: str) -> dict[str, _Share]:
    rows = (await conn.execute(TENANT_QUEUE_LEDGER, {"queue": queue})).mappings()
    return {
        r["tenant"]: _Share(r["tenant"], float(r["pass"]), float(r["weight"]), r["max_running"])
        for r in rows
    }


def _at_limit(share: _Share, running: Mapping[str, int]) -> bool:
    return share.max_running is not None and running.get(share.tenant, 0) >= share.max_running


async def _lock_running(conn: Connection, ledger: Mapping[str, _Share]) -> dict[str, int]:
    """Lock the limited tenants among ``ledger`` (name order), then count their runs in
    a statement of its own, which sees every claim that held the lock before us."""
    limited = sorted(s.tenant for s in ledger.values() if s.max_running is not None)
    if not limited:
        return {}
    await conn.execute(TENANT_RUNNING_LOCK, {"names": limited})
    counts = await conn.execute(TENANT_RUNNING_MANY, {"names": limited})
    return {r["tenant"]: int(r["running"]) for r in counts.mappings()}


async def _next_of(
    conn: Connection, tenant: str, queue: str, taken: Sequence[int]
) -> tuple[int, int] | None:
    row = (
        await conn.execute(
            JOB_QUEUED_NEXT_OF_TENANT, {"tenant": tenant, "queue": queue, "taken": list(taken)}
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def _advance(
    conn: Connection, queue: str, ledger: Mapping[str, _Share], idle: set[str]
) -> None:
    """Write the passes that moved; idle tenants catch up with the busy ones' least."""
    busy = [s.pass_ for s in ledger.values() if s.tenant not in idle]
    if busy:
        floor = min(busy)
        for tenant in idle:
            share = ledger[tenant]
            if share.pass_ < floor:
                share.pass_ = floor
                share.moved = True
    moved = [s for s in ledger.values() if s.moved]
    if moved:
        await conn.execute(
            TENANT_QUEUE_ADVANCE,
            {
                "queue": queue,
                "tenants": [s.tenant for s in moved],
                "passes": [s.pass_ for s in moved],
            },
        )
