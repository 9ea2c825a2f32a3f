"""``queueconsole status``: the dashboard snapshot as a compact table, or JSON.

PostgreSQL is required (it is the truth; without it the command exits 3 and
names it). RabbitMQ and Redis are not: a section they feed is shown as
unavailable and the rest still prints.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from engine.specs import DEFAULT_TENANT
from engine.states import State
from queueconsole.cli.output import print_json, printable, table
from queueconsole.documents import status_document, status_problems

if TYPE_CHECKING:
    from engine.doctor import DoctorReport
    from engine.snapshots import Dashboard
    from engine.snapshots.tenants import TenantsSection

MIB = 1024 * 1024


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``status`` command."""
    p = sub.add_parser(
        "status",
        parents=parents,
        help="jobs per queue and state, broker depth, workers, service health",
    )
    p.add_argument("--json", action="store_true", help="print the whole snapshot as JSON")
    p.set_defaults(handler=run_status)


async def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print one dashboard snapshot."""
    # Imported here: every command builds the whole parser, and a worker process
    # started as `queueconsole worker` should not carry the read API, nor a shell's
    # `queueconsole submit` SQLAlchemy's engine.
    from engine.readapi.reader import StatusReader

    reader = StatusReader(settings, application_name="queueconsole-status")
    try:
        await reader.require_database()  # no PostgreSQL: exit 3 naming it (2: not migrated)
        # The doctor's quick checks (one round trip per service) run alongside the
        # snapshot, so they add next to nothing to the command's time.
        snap, report = await asyncio.gather(reader.dashboard(), reader.quick_checks())
    finally:
        await reader.close()
    if args.json:
        print_json(status_document(snap, report))
    else:
        print_table(snap)
        line = doctor_line(report)
        if line:
            print(line)
    return 0


def doctor_line(report: DoctorReport) -> str | None:
    """The doctor's findings in one line, or None when there are none."""
    problems = status_problems(report)
    if not problems:
        return None
    failures = [c.name for c in problems if c.status == "fail"]
    warnings = [c.name for c in problems if c.status == "warn"]
    parts = []
    if failures:
        parts.append(f"{len(failures)} failing ({', '.join(failures)})")
    if warnings:
        parts.append(f"{len(warnings)} warning(s) ({', '.join(warnings)})")
    return printable(
        f"doctor: {'; '.join(parts)}; `queueconsole doctor` says what to change",
        keep_newlines=False,
    )


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 10_000 else f"{value:.0f}ms"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def tenants_line(section: TenantsSection) -> str:
    """``tenants: acme 12 waiting, 4/4 running; default 0 waiting, 1/- running``."""
    parts = [
        f"{t.name} {t.waiting:,} waiting, {t.running:,}/"
        f"{'-' if t.max_running is None else f'{t.max_running:,}'} running"
        for t in section.tenants
    ]
    return "tenants: " + "; ".join(parts)


def print_table(snap: Dashboard) -> None:
    """The compact, human form: queues, then workers, then one line each for the rest."""
    section = snap.queues
    if not section.available:
        print(f"queues: unavailable ({printable(section.error or '', keep_newlines=False)})")
    elif not section.queues:
        print("no queues yet: submit a job with `queueconsole submit TYPE`")
    else:
        states = list(State)
        rows = [
            [
                q.name + (" (paused)" if q.paused else ""),
                *(q.count(s) for s in states),
                _num(q.broker_ready),
                _num(q.broker_unacked),
            ]
            for q in section.queues
        ]
        table(["queue", *(s.value for s in states), "ready", "unacked"], rows)
        notes = [f"counts from {section.source}"]
        if not section.broker_available:
            notes.append(f"broker depth unavailable: {section.broker_error}")
        if section.error:
            notes.append(section.error)
        print("  " + printable("; ".join(notes), keep_newlines=False))

    print()
    if not snap.workers.available:
        print(f"workers: unavailable ({printable(snap.workers.error or '')})")
    elif not snap.workers.workers:
        print("no workers: start some with `queueconsole engine`")
    else:
        table(
            ["worker", "host", "pid", "state", "job", "rss", "beat", "queues"],
            [
                [
                    w.id,
                    w.host,
                    w.pid,
                    w.state,
                    _num(w.current_job_id),
                    "-" if w.rss_bytes is None else f"{w.rss_bytes / MIB:.0f}MiB",
                    f"{w.heartbeat_age_s:.0f}s ago",
                    ",".join(w.queues),
                ]
                for w in snap.workers.workers
            ],
        )

    print()
    tp = snap.throughput
    if tp.available:
        rate = "-" if tp.failure_rate is None else f"{tp.failure_rate:.1%}"
        print(
            f"last hour: {tp.completed} completed, {tp.failed} failed runs "
            f"(failure rate {rate}; from {tp.source})"
        )
    lat = snap.latency
    if lat.available and lat.sample:
        print(
            f"last {lat.window_s // 60} min ({lat.sample} jobs): wait p50 {_ms(lat.wait_p50_ms)} "
            f"p95 {_ms(lat.wait_p95_ms)}, run p50 {_ms(lat.run_p50_ms)} p95 {_ms(lat.run_p95_ms)}"
        )
    tenants = snap.tenants
    if tenants.available and any(t.name != DEFAULT_TENANT for t in tenants.tenants):
        print(printable(tenants_line(tenants), keep_newlines=False))
    fails = snap.failures
    if fails.available and fails.groups:
        top = fails.groups[0]
        print(
            f"failures: {len(fails.groups)} groups; largest {top.count}x "
            f"{printable(top.fingerprint, keep_newlines=False)[:60]}"
        )
    for s in snap.services:
        state = f"up {s.latency_ms:.1f}ms" if s.up and s.latency_ms is not None else "down"
        why = f" ({s.error})" if s.error else ""
        print(printable(f"{s.name}: {state} at {s.url}{why}", keep_newlines=False))
    replica = snap.read_replica
    if replica is not None:
        lag = "lag unknown" if replica.lag_s is None else f"lag {replica.lag_s:.1f}s"
        print(
            printable(
                f"reads: {replica.using} (replica {replica.url_host}, {lag}: {replica.reason})",
                keep_newlines=False,
            )
        )
