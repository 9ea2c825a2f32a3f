"""``queueconsole schedule … | pause | resume | limit | queues | prune``: operating the queue."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.client import DEFAULT_BATCH, DEFAULT_TZ, PruneResult, ScheduleInfo
from engine.config import Settings
from engine.durations import format_duration, parse_duration
from engine.queues.info import QueueInfo
from engine.queues.limits import parse_limit
from engine.queues.pausing import PauseChange
from engine.runtime.wiring import open_client
from queueconsole.cli.arguments import parse_payload, priority, whole_number
from queueconsole.cli.output import print_json, table, when


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the operations commands."""
    p = sub.add_parser(
        "schedule",
        parents=parents,
        help="cron schedules: add, list, remove, pause, resume",
        description="Jobs submitted at every tick of a cron expression (database clock).",
    )
    verbs = p.add_subparsers(dest="schedule_command", metavar="ACTION", parser_class=type(p))
    verbs.required = True

    a = verbs.add_parser(
        "add",
        parents=parents,
        help="submit a TYPE job at every tick of a cron expression",
        description=(
            "Submit a job of TYPE at every tick of --cron, in --tz (UTC by default). Ticks "
            "missed while no engine ran fire once, on the next start."
        ),
    )
    a.add_argument("name", metavar="NAME", help="the schedule's unique name")
    a.add_argument("type", metavar="TYPE", help="registered job type, e.g. reports.daily")
    a.add_argument(
        "--cron",
        required=True,
        metavar="EXPR",
        help="5 fields (minute hour day month weekday), e.g. '*/5 * * * *', or @daily …",
    )
    a.add_argument("--tz", default=DEFAULT_TZ, metavar="ZONE", help="IANA time zone (UTC)")
    a.add_argument("--payload", metavar="JSON", help="job payload, a JSON object")
    a.add_argument(
        "--queue",
        metavar="Q",
        help="queue of its jobs (default: the routing rules', resolved now, else 'default')",
    )
    a.add_argument(
        "--priority",
        metavar="P",
        type=priority,
        help="critical, high, normal or low (default: the routing rules', else normal)",
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_schedule_add)

    a = verbs.add_parser("list", parents=parents, help="every schedule and its next tick")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_schedule_list)

    for verb, help_text in (
        ("remove", "delete a schedule (the jobs it submitted stay)"),
        ("pause", "stop firing a schedule"),
        ("resume", "fire a paused schedule again, from its next tick after now"),
        ("fire", "submit a schedule's job now, out of turn (its cron ticks go on as before)"),
    ):
        a = verbs.add_parser(verb, parents=parents, help=help_text)
        a.add_argument("name", metavar="NAME")
        a.add_argument("--json", action="store_true", help="print JSON")
        a.set_defaults(handler=run_schedule_change, schedule_verb=verb)

    p = sub.add_parser(
        "pause",
        parents=parents,
        help="pause a queue: jobs are accepted, none starts, running ones finish",
    )
    p.add_argument("queue", metavar="QUEUE")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_pause)

    p = sub.add_parser("resume", parents=parents, help="resume a paused queue")
    p.add_argument("queue", metavar="QUEUE")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_resume)

    p = sub.add_parser(
        "limit",
        parents=parents,
        help="refuse submissions once N jobs wait in a queue ('none' lifts the limit)",
    )
    p.add_argument("queue", metavar="QUEUE")
    p.add_argument("limit", metavar="N|none")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_limit)

    p = sub.add_parser("queues", parents=parents, help="every queue: paused, limit, waiting")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_queues)

    p = sub.add_parser(
        "prune",
        parents=parents,
        help="remove finished jobs older than an age, with their events and logs",
        description=(
            "Remove completed, failed and cancelled jobs that finished longer ago than "
            "--older-than, with their events, logs and dependency rows, in short batches. "
            "Jobs of a workflow that still has a live job, and jobs a live job depends on, "
            "are kept."
        ),
    )
    p.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 7d, 12h, 90m, 1d12h")
    p.add_argument("--dry-run", action="store_true", help="count what would go; remove nothing")
    p.add_argument(
        "--batch-size",
        type=whole_number,
        default=DEFAULT_BATCH,
        metavar="N",
        help="jobs per transaction",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_prune)


# -- schedules --------------------------------------------------------------


def _schedule_rows(schedules: list[ScheduleInfo]) -> list[list[object]]:
    return [
        [
            s.name,
            s.cron,
            s.tz,
            s.type,
            s.queue,
            "paused" if s.paused else when(s.next_fire_at),
            when(s.last_tick),
            s.last_job_id if s.last_job_id is not None else "-",
            json.dumps(dict(s.payload), ensure_ascii=False, separators=(",", ":"))[:40],
        ]
        for s in schedules
    ]


_SCHEDULE_HEADERS = ["name", "cron", "tz", "type", "queue", "next", "last tick", "last job"]


def _print_schedules(schedules: list[ScheduleInfo]) -> None:
    table([*_SCHEDULE_HEADERS, "payload"], _schedule_rows(schedules))


async def run_schedule_add(args: argparse.Namespace, settings: Settings) -> int:
    """Create a schedule."""
    payload = parse_payload(args.payload)
    async with open_client(settings) as client:
        schedule = await client.add_schedule(
            args.name,
            args.cron,
            args.type,
            payload,
            queue=args.queue,
            priority=args.priority,
            tz=args.tz,
        )
    if args.json:
        print_json(schedule.to_json())
    else:
        print(
            f"schedule {schedule.name}: {schedule.type} on {schedule.queue} at "
            f"'{schedule.cron}' ({schedule.tz}); first tick {when(schedule.next_fire_at)}"
        )
    return 0


async def run_schedule_list(args: argparse.Namespace, settings: Settings) -> int:
    """List schedules."""
    async with open_client(settings) as client:
        schedules = await client.schedules()
    if args.json:
        print_json([s.to_json() for s in schedules])
    elif not schedules:
        print("no schedules: add one with `queueconsole schedule add NAME TYPE --cron EXPR`")
    else:
        _print_schedules(schedules)
    return 0


async def run_schedule_change(args: argparse.Namespace, settings: Settings) -> int:
    """Remove, pause, resume or fire a schedule."""
    verb = args.schedule_verb
    if verb == "fire":
        async with open_client(settings) as client:
            fired = await client.fire_schedule(args.name)
        if args.json:
            print_json(
                {"name": fired.schedule, "job_id": fired.job_id, "tick": fired.tick.isoformat()}
            )
        else:
            print(f"schedule {fired.schedule} fired now: job {fired.job_id}")
        return 0
    async with open_client(settings) as client:
        if verb == "remove":
            await client.remove_schedule(args.name)
            schedule = None
        elif verb == "pause":
            schedule = await client.pause_schedule(args.name)
        else:
            schedule = await client.resume_schedule(args.name)
    if args.json:
        print_json({"name": args.name, "removed": True} if schedule is None else schedule.to_json())
    elif schedule is None:
        print(f"schedule {args.name} removed")
    elif schedule.paused:
        print(f"schedule {schedule.name} paused")
    else:
        print(f"schedule {schedule.name} resumed; next tick {when(schedule.next_fire_at)}")
    return 0


# -- queues -----------------------------------------------------------------


def _limit_text(queue: QueueInfo) -> str:
    return "none" if queue.max_waiting is None else f"{queue.max_waiting:,}"


def _print_pause(change: PauseChange, verb: str, as_json: bool) -> None:
    q = change.queue
    if as_json:
        print_json({**q.to_json(), "changed": change.changed, "republished": change.republished})
        return
    if not change.changed:
        print(f"queue {q.name} was already {verb}")
    elif verb == "paused":
        print(f"queue {q.name} paused: jobs are accepted, none starts ({q.waiting:,} waiting)")
    else:
        print(f"queue {q.name} resumed ({q.waiting:,} waiting)")


async def run_pause(args: argparse.Namespace, settings: Settings) -> int:
    """Pause a queue."""
    async with open_client(settings) as client:
        change = await client.pause_queue(args.queue)
    _print_pause(change, "paused", args.json)
    return 0


async def run_resume(args: argparse.Namespace, settings: Settings) -> int:
    """Resume a queue."""
    async with open_client(settings) as client:
        change = await client.resume_queue(args.queue)
    _print_pause(change, "resumed", args.json)
    return 0


async def run_limit(args: argparse.Namespace, settings: Settings) -> int:
    """Set or lift a queue's limit."""
    limit = parse_limit(args.limit)
    async with open_client(settings) as client:
        queue = await client.set_queue_limit(args.queue, limit)
    if args.json:
        print_json(queue.to_json())
    elif queue.max_waiting is None:
        print(f"queue {queue.name}: no limit ({queue.waiting:,} waiting)")
    else:
        print(
            f"queue {queue.name}: at most {queue.max_waiting:,} jobs waiting "
            f"({queue.waiting:,} now)"
        )
    return 0


async def run_queues(args: argparse.Namespace, settings: Settings) -> int:
    """List queues with their settings."""
    async with open_client(settings) as client:
        queues = await client.queues()
    if args.json:
        print_json([q.to_json() for q in queues])
        return 0
    if not queues:
        print("no queues yet: submit a job with `queueconsole submit TYPE`")
        return 0
    table(
        ["queue", "paused", "limit", "waiting"],
        [[q.name, "yes" if q.paused else "", _limit_text(q), f"{q.waiting:,}"] for q in queues],
    )
    return 0


# -- retention --------------------------------------------------------------


def _print_prune(result: PruneResult) -> None:
    verb = "would remove" if result.dry_run else "removed"
    by_state = ", ".join(f"{n:,} {s.value}" for s, n in result.jobs.items() if n)
    print(
        f"{verb} {result.total_jobs:,} jobs finished before {when(result.cutoff)} "
        f"(older than {format_duration(result.older_than)})" + (f": {by_state}" if by_state else "")
    )
    print(
        f"  with {result.events:,} events, {result.logs:,} log lines, "
        f"{result.dependencies:,} dependency rows; {result.schedule_fires:,} schedule fires"
    )
    if result.kept:
        print(f"  kept {result.kept:,} old jobs: their workflow or a job depending on them is live")
    print(f"  {result.batches:,} batches in {result.seconds:.2f} s")


async def run_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Remove (or count) old finished jobs."""
    age = parse_duration(args.older_than, "--older-than")
    async with open_client(settings) as client:
        result = await client.prune(age, dry_run=args.dry_run, batch_size=args.batch_size)
    if args.json:
        print_json(result.to_json())
    else:
        _print_prune(result)
    return 0
