"""``queueconsole routes [TYPE]``: the routing table, and where a type's jobs go.

Routing rules are settings (:mod:`engine.routes`), so this command reads only the
configuration and needs no service: the answer to "why did this job land on that
queue?" works on any machine with the same config file and environment.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.config import Settings
from engine.routes import DEFAULT_PRIORITY, DEFAULT_QUEUE, Resolved
from engine.specs import check_type_name
from queueconsole.cli.output import print_json, printable, table
from queueconsole.cli.settings import resolve


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``routes`` command."""
    p = sub.add_parser(
        "routes",
        parents=parents,
        help="print the routing rules, and which one a job type matches",
        description="Print the routing rules (type pattern, queue, priority, source) in the "
        "order they are tried; the first rule whose pattern matches a job's type gives the "
        "queue and priority its submitter left out. With TYPE, say which rule it matches.",
    )
    p.add_argument("type", nargs="?", metavar="TYPE", help="a job type, e.g. reports.daily")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_routes)


def _match_json(job_type: str, resolved: Resolved) -> dict[str, Any]:
    rule = resolved.rule
    return {
        "type": job_type,
        "rule": None if rule is None else rule.index,
        "pattern": None if rule is None else rule.pattern,
        "queue": resolved.queue,
        "priority": resolved.priority.label,
    }


def _match_line(job_type: str, resolved: Resolved) -> str:
    rule = resolved.rule
    queue = f"queue {resolved.queue}"
    priority = f"priority {resolved.priority.label}"
    if rule is None:
        return f"{job_type}: no rule matches; queue {DEFAULT_QUEUE}, priority " + (
            f"{DEFAULT_PRIORITY.label} (the defaults)"
        )
    if rule.queue is None:
        queue += " (default: the rule sets none)"
    if rule.priority is None:
        priority += " (default: the rule sets none)"
    return f"{job_type}: rule #{rule.index} ({rule.pattern}); {queue}, {priority}"


def run_routes(args: argparse.Namespace, settings: Settings) -> int:
    """Print the table and, with TYPE, the rule it matches."""
    source = resolve(args).sources["routes"]
    routes = settings.routes
    job_type = None if args.type is None else check_type_name(args.type, "TYPE")
    resolved = None if job_type is None else routes.explain(job_type)
    if args.json:
        document: dict[str, Any] = {
            "source": str(source.origin),
            "from": source.where or None,
            "routes": [{"index": r.index, **r.to_json()} for r in routes],
        }
        if job_type is not None and resolved is not None:
            document["match"] = _match_json(job_type, resolved)
        print_json(document)
        return 0
    if routes:
        table(
            ["#", "type", "queue", "priority", "source"],
            [
                [
                    r.index,
                    r.pattern,
                    r.queue or "-",
                    r.priority.label if r.priority is not None else "-",
                    str(source),
                ]
                for r in routes
            ],
        )
    else:
        print(
            "no routing rules: a job whose submitter names no queue or priority goes to "
            f"queue {DEFAULT_QUEUE}, priority {DEFAULT_PRIORITY.label} "
            "([[routes]] in the config file, or QUEUECONSOLE_ROUTES, adds rules)"
        )
    if job_type is not None and resolved is not None:
        if routes:
            print()
        print(printable(_match_line(job_type, resolved), keep_newlines=False))
    return 0
