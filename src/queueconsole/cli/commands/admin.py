"""``queueconsole migrate`` and ``queueconsole status``."""

from __future__ import annotations

import argparse
from typing import Any

from engine.client import Client
from engine.config import Settings, mask_url
from engine.db.migrate import head_revision, migrate
from engine.states import State
from queueconsole.cli.output import print_json, table


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the administration commands."""
    p = sub.add_parser(
        "migrate",
        parents=parents,
        help="create the database if needed and apply migrations (safe to repeat)",
    )
    p.set_defaults(handler=run_migrate)

    p = sub.add_parser("status", parents=parents, help="jobs per queue and state")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_status)


async def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the database to the newest schema."""
    applied = await migrate(settings)
    where = mask_url(settings.database_url)
    if applied:
        print(f"{where}: applied {', '.join(applied)}")
    else:
        print(f"{where}: already at {head_revision()}")
    return 0


async def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print counts per queue and state."""
    async with Client(settings) as client:
        counts = await client.queue_counts()
    if args.json:
        print_json({"queues": {q.queue: q.to_json() for q in counts}})
        return 0
    if not counts:
        print("no queues yet: submit a job with `queueconsole submit TYPE`")
        return 0
    states = list(State)
    rows = [
        [q.queue + (" (paused)" if q.paused else ""), *(q.counts[s] for s in states)]
        for q in counts
    ]
    table(["queue", *(s.value for s in states)], rows)
    return 0
