"""``queueconsole dead list | replay | purge``: the broker's dead-letter queue.

PostgreSQL holds every failure; RabbitMQ's dead-letter queue holds a bounded
copy of the recent ones for consumers outside the engine. Each command reads
the queue first (a sweep), so "in broker" is what it holds now.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.client import Client
from engine.config import Settings
from engine.errors import ServiceUnavailable
from engine.runtime.wiring import open_client
from engine.snapshots import DeadLetter, DeadReplayed, DeadSweep
from queueconsole.cli.arguments import job_id, whole_number
from queueconsole.cli.output import print_json, printable, table, when

DEFAULT_LIMIT = 1000  # failures `dead list` shows, newest first


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``dead`` and its actions."""
    p = sub.add_parser(
        "dead",
        parents=parents,
        help="the dead-letter queue: list, replay or purge what it holds",
        description=(
            "Failed jobs and their copies in RabbitMQ's dead-letter queue (bounded by "
            "dead_letter_max_length and dead_letter_max_age). PostgreSQL keeps every failure."
        ),
    )
    verbs = p.add_subparsers(dest="dead_command", metavar="ACTION", parser_class=type(p))
    verbs.required = True

    a = verbs.add_parser(
        "list",
        parents=parents,
        help="failed jobs, newest first, and whether their copy is in the broker",
    )
    a.add_argument("--group", metavar="FP", help="only this failure group (its fingerprint)")
    a.add_argument(
        "--limit", type=whole_number, default=DEFAULT_LIMIT, metavar="N", help="newest N (1000)"
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_list)

    a = verbs.add_parser(
        "replay",
        parents=parents,
        help="run failed jobs again (fresh attempts, dependents released); drop their copies",
        description=(
            "Run dead-lettered jobs again with a fresh attempt budget, releasing their blocked "
            "dependents as `retry` does, and remove their copies from the dead-letter queue. "
            "Named ids are all replayed or, if one is unknown or not failed, none."
        ),
    )
    a.add_argument("ids", nargs="*", type=job_id, metavar="ID", help="failed jobs")
    a.add_argument("--group", metavar="FP", help="every failed job of this failure group")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_replay)

    a = verbs.add_parser(
        "purge",
        parents=parents,
        help="remove copies from the dead-letter queue (PostgreSQL keeps the failures)",
    )
    a.add_argument(
        "--older-than", metavar="AGE", help="only failures older than this, e.g. 7d, 12h"
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_purge)


def _warn(message: str) -> None:
    print(f"queueconsole: warning: {printable(message, keep_newlines=False)}", file=sys.stderr)


async def _sweep(client: Client) -> DeadSweep | None:
    """Read the queue before answering; without RabbitMQ, say the answer is older."""
    try:
        done = await client.sweep_dead()
    except ServiceUnavailable as exc:
        _warn(f"{exc}; 'in broker' is as the engine last saw it")
        return None
    if not done.swept:
        _warn("another sweep of the dead-letter queue is running; 'in broker' may be behind")
    return done


def _rows(letters: list[DeadLetter]) -> list[list[object]]:
    return [
        [
            d.job_id,
            d.type,
            d.queue,
            when(d.failed_at),
            "yes" if d.in_broker else "no",
            d.fingerprint,
            d.error[:60],
        ]
        for d in letters
    ]


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """List failed jobs with their dead-letter copies."""
    async with open_client(settings) as client:
        await _sweep(client)
        letters = await client.dead_letters(fingerprint=args.group, limit=args.limit)
    if args.json:
        print_json([d.to_json() for d in letters])
    elif not letters:
        print("no failed jobs" + (f" in group {args.group}" if args.group else ""))
    else:
        table(["job", "type", "queue", "failed at", "in broker", "group", "error"], _rows(letters))
    return 0


def _print_replay(done: DeadReplayed) -> None:
    what = (
        f"group {done.fingerprint}"
        if done.fingerprint is not None
        else "job" + ("s " if len(done.job_ids) > 1 else " ") + ", ".join(map(str, done.job_ids))
    )
    print(f"replayed {done.replayed:,} failed job(s) ({what}) with a fresh attempt budget")
    if done.skipped:
        print(f"  skipped {done.skipped:,}: no longer failed when their turn came")
    if done.released:
        print(f"  released {done.released:,} blocked dependent(s)")
    if done.sweep is None:
        print("  RabbitMQ did not answer: the engine removes their dead-letter copies later")
    else:
        print(f"  removed {done.sweep.removed:,} copies from the dead-letter queue")


async def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Replay failed jobs by id or by failure group."""
    async with open_client(settings) as client:
        done = await client.replay_dead(args.ids, group=args.group)
    if args.json:
        print_json(done.to_json())
    else:
        _print_replay(done)
    return 0


async def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    """Remove copies from the dead-letter queue."""
    async with open_client(settings) as client:
        done = await client.purge_dead(args.older_than)
    if args.json:
        print_json(done.to_json())
        return 0
    scope = f"failed before {when(done.before)}" if done.before else "all failures"
    print(
        f"removed {done.sweep.removed:,} copies from the dead-letter queue ({scope}: "
        f"{done.marked:,}); PostgreSQL keeps the failures"
    )
    if not done.sweep.swept:
        print("  another sweep was running: it removes the rest")
    return 0
