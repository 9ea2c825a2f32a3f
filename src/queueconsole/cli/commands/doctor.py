"""``queueconsole doctor``: what the design depends on, checked, with what to change.

Exit status for scripts: 0 every check passed, 1 warnings only, 2 at least one
failure (a service that does not answer is a failure here, not status 3).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from queueconsole.cli.arguments import non_negative_int
from queueconsole.cli.output import print_json, printable

if TYPE_CHECKING:
    from engine.doctor import DoctorReport

MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``doctor`` command."""
    p = sub.add_parser(
        "doctor",
        parents=parents,
        help="check the services' configuration and say what to change (exit 0/1/2)",
        description="Check Redis's eviction policy and memory cap, RabbitMQ's "
        "consumer_timeout and management plugin, PostgreSQL's version and max_connections "
        "against the workers you plan, whether migrations are current, and the clock skew "
        "between this host and the database. Exit status: 0 all ok, 1 warnings, 2 failures.",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=2,
        metavar="N",
        help="worker processes per queue you run per engine (as `engine --workers`; 2)",
    )
    p.add_argument(
        "--queues",
        default="default",
        metavar="A,B",
        help="queues each engine runs workers for (as `engine --queues`; default)",
    )
    p.add_argument(
        "--engines",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="engines (hosts) sharing the database (1)",
    )
    p.set_defaults(handler=run_doctor)


async def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Run every check; the exit status is the worst result's."""
    from engine.doctor import Capacity, diagnose

    queues = [q for q in (q.strip() for q in args.queues.split(",")) if q]
    capacity = Capacity(engines=args.engines, workers=args.workers, queues=max(1, len(queues)))
    report = await diagnose(settings, capacity)
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    return report.exit_code


def print_report(report: DoctorReport) -> None:
    """One line per check, with what to change indented below it."""
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        line = f"{MARKS[check.status]}  {check.name.ljust(width)}  {check.summary}"
        print(printable(line, keep_newlines=False))
        if check.advice:
            print(printable(f"      {''.ljust(width)}  → {check.advice}", keep_newlines=False))
    problems = report.problems()
    warnings = sum(1 for c in problems if c.status == "warn")
    failures = len(problems) - warnings
    if not problems:
        print("\nall checks passed")
    else:
        print(f"\n{failures} failure(s), {warnings} warning(s)")
