"""``queueconsole submit | job | jobs | cancel | retry``.

The client, the read API and their drivers are imported inside each command: every
command builds the whole parser, and a shell's ``queueconsole submit`` should pay
start-up only for what submitting needs (see :mod:`queueconsole.cli.clients`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import Settings
from engine.errors import UserError
from engine.specs import DEFAULT_BACKOFF_MAX_S, DEFAULT_BACKOFF_S, DEFAULT_TENANT, parse_workflow
from queueconsole.cli.arguments import (
    job_id,
    non_negative_int,
    non_negative_seconds,
    parse_payload,
    priority,
    seconds,
    state,
)
from queueconsole.cli.clients import writing_client
from queueconsole.cli.output import print_json, printable, table, when

if TYPE_CHECKING:
    from engine.client import ChangeSet
    from engine.snapshots import JobDetail


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the job commands."""
    p = sub.add_parser(
        "submit",
        parents=parents,
        help="submit a job, or a workflow file",
        description="Submit one job of TYPE, or every job of a workflow file (--file).",
    )
    p.add_argument("type", nargs="?", metavar="TYPE", help="registered job type, e.g. demo.noop")
    p.add_argument("--file", metavar="PATH", help='workflow file: {"jobs": [{"ref": …}, …]}')
    p.add_argument("--payload", metavar="JSON", help="job payload, a JSON object")
    p.add_argument(
        "--queue",
        metavar="Q",
        help="queue (default: the first routing rule matching TYPE, else 'default')",
    )
    p.add_argument(
        "--priority",
        metavar="P",
        type=priority,
        help="critical, high, normal or low (default: the matching routing rule's, else normal)",
    )
    p.add_argument(
        "--depends-on",
        metavar="ID",
        type=job_id,
        action="append",
        default=[],
        help="run only after job ID completed (repeatable)",
    )
    p.add_argument("--key", metavar="K", help="idempotency key")
    p.add_argument(
        "--tenant",
        metavar="T",
        help="the tenant the job (or every job of --file) belongs to (default: 'default')",
    )
    p.add_argument("--max-retries", metavar="N", type=non_negative_int, default=3)
    p.add_argument("--timeout", metavar="S", type=seconds, help="seconds before the run is killed")
    p.add_argument("--memory-mb", metavar="M", type=int, help="memory the job needs, in MiB")
    p.add_argument(
        "--cpu",
        metavar="C",
        type=float,
        help="cores the job needs while it runs (fractional, e.g. 0.5)",
    )
    p.add_argument(
        "--ttl",
        metavar="S",
        type=seconds,
        help="cancel the job if it has not started within S seconds",
    )
    p.add_argument(
        "--backoff",
        metavar="S",
        type=non_negative_seconds,
        help=f"first wait before a retry, doubling on each later one ({DEFAULT_BACKOFF_S:g})",
    )
    p.add_argument(
        "--backoff-max",
        metavar="S",
        type=non_negative_seconds,
        help=f"longest wait between retries ({DEFAULT_BACKOFF_MAX_S:g})",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_submit)

    p = sub.add_parser("job", parents=parents, help="one job: dependencies, events, error, logs")
    p.add_argument("id", type=job_id, metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_job)

    p = sub.add_parser("jobs", parents=parents, help="list jobs, newest first")
    p.add_argument("--state", type=state, metavar="S")
    p.add_argument("--queue", metavar="Q")
    p.add_argument("--type", metavar="T")
    p.add_argument("--tenant", metavar="T", help="only this tenant's jobs")
    p.add_argument("--text", metavar="TEXT", help="match type, error, key or id")
    p.add_argument("--limit", type=int, default=50, metavar="N")
    p.add_argument("--before", type=job_id, metavar="ID", help="only jobs older than ID (paging)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_jobs)

    for name, verb in (
        ("cancel", "cancel a live job; dependents become blocked"),
        ("retry", "run a failed or cancelled job again, or a retrying one now"),
    ):
        p = sub.add_parser(name, parents=parents, help=verb)
        p.add_argument("id", type=job_id, metavar="ID")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=run_cancel if name == "cancel" else run_retry)


def _read_workflow(path: str) -> Any:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"workflow file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"workflow file {path} cannot be read: {exc.strerror}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"workflow file {path} is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long for Python to read
        raise UserError(f"workflow file {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise UserError(f"workflow file {path} is nested too deeply") from None


def _backoff(backoff: float | None, backoff_max: float | None) -> tuple[float, float]:
    """``--backoff`` and ``--backoff-max`` with their defaults, or a UserError when the
    first wait would be longer than the longest (the cap would quietly win)."""
    first = DEFAULT_BACKOFF_S if backoff is None else backoff
    longest = DEFAULT_BACKOFF_MAX_S if backoff_max is None else backoff_max
    if first > longest:
        which = "--backoff-max" if backoff_max is not None else f"the default {longest:g}"
        raise UserError(
            f"--backoff {first:g} is longer than {which} s, the longest wait between retries; "
            "give a larger --backoff-max"
        )
    return first, longest


async def run_submit(args: argparse.Namespace, settings: Settings) -> int:
    """Submit one job or a workflow file."""
    if args.file and args.type is not None:
        raise UserError("give either TYPE or --file, not both")
    if not args.file and args.type is None:
        raise UserError("say what to submit: a job TYPE, or --file workflow.json")
    if args.file:
        given = [f for f in ("queue", "priority", "backoff", "backoff_max") if getattr(args, f)]
        if given:  # silently ignored they would surprise: the file says it per job
            flags = ", ".join("--" + f.replace("_", "-") for f in given)
            raise UserError(f"{flags} apply to one job; a workflow file sets them per job")
        name, specs = parse_workflow(_read_workflow(args.file))
        if args.tenant is not None:  # the file's jobs that name no tenant of their own
            specs = [
                replace(s, tenant=args.tenant) if s.tenant == DEFAULT_TENANT else s for s in specs
            ]
        async with writing_client(settings) as client:
            result = await client.submit_workflow(specs, name=name)
        if args.json:
            print_json(result.ids)
        else:
            print(f"workflow {result.workflow_id}: {len(result.jobs)} jobs")
            table(
                ["ref", "id", "state", "duplicate"],
                [
                    [ref, s.id, s.state.value, "yes" if s.duplicate else ""]
                    for ref, s in result.jobs.items()
                ],
            )
        return 0
    payload = parse_payload(args.payload)
    backoff, backoff_max = _backoff(args.backoff, args.backoff_max)
    async with writing_client(settings) as client:
        submitted = await client.submit(
            args.type,
            payload,
            queue=args.queue,
            priority=args.priority,
            depends_on=args.depends_on,
            idempotency_key=args.key,
            max_retries=args.max_retries,
            timeout_s=args.timeout,
            memory_mb=args.memory_mb,
            ttl_s=args.ttl,
            backoff_s=backoff,
            backoff_max_s=backoff_max,
            cpu=args.cpu,
            tenant=DEFAULT_TENANT if args.tenant is None else args.tenant,
        )
    if args.json:
        print_json(
            {"id": submitted.id, "state": submitted.state.value, "duplicate": submitted.duplicate}
        )
    elif submitted.duplicate:
        print(
            f"job {submitted.id} ({submitted.state.value}) already holds key {args.key!r}; "
            "nothing new was submitted"
        )
    else:
        print(f"job {submitted.id} {submitted.state.value}")
    return 0


async def run_job(args: argparse.Namespace, settings: Settings) -> int:
    """Show one job."""
    from engine.client import Client

    async with Client(settings) as client:
        detail = await client.job(args.id)
    if args.json:
        print_json(detail.to_json())
    else:
        _print_detail(detail)
    return 0


def _print_detail(d: JobDetail) -> None:
    fields = [
        ("job", f"{d.id}  {d.type}"),
        ("state", d.state.value + (f" ({d.wait_reason})" if d.wait_reason else "")),
        ("queue", f"{d.queue}  priority {d.priority.label}"),
        ("tenant", d.tenant),
        ("attempts", f"{d.attempts} (max retries {d.max_retries}, {d.attempts_left} left)"),
        ("backoff", f"{d.backoff_s:g} s doubling, at most {d.backoff_max_s:g} s"),
        ("workflow", d.workflow_id if d.workflow_id is not None else "-"),
        ("key", d.idempotency_key or "-"),
        ("created", when(d.created_at)),
        ("queued", when(d.queued_at)),
        ("started", when(d.started_at)),
        ("finished", when(d.finished_at)),
        ("retry at", when(d.run_at)),
        ("worker", d.worker_id or "-"),
        ("payload", json.dumps(d.payload, ensure_ascii=False)),
        ("depends on", ", ".join(f"{j.id} {j.type} ({j.state.value})" for j in d.upstream) or "-"),
        (
            "dependents",
            ", ".join(f"{j.id} {j.type} ({j.state.value})" for j in d.downstream) or "-",
        ),
    ]
    if d.result_json is not None:
        fields.append(("result", d.result_json))
    for label, value in fields:
        print(f"{label:>11}  {printable(str(value), keep_newlines=False)}")
    if d.error is not None:
        print(f"\n{'error':>11}  {printable(f'{d.error.type}: {d.error.message}')}")
        if d.error.traceback:
            print(printable(d.error.traceback.rstrip()))
    print()
    table(
        ["at", "from", "to", "attempt", "reason"],
        [
            [
                when(e.at),
                e.from_state.value if e.from_state else "-",
                e.to_state.value,
                e.attempt,
                e.reason or "",
            ]
            for e in d.events
        ],
    )
    if d.logs:
        print()
        table(
            ["at", "attempt", "level", "message"],
            [[when(line.at), line.attempt, line.level, line.message] for line in d.logs],
        )


async def run_jobs(args: argparse.Namespace, settings: Settings) -> int:
    """List jobs."""
    from engine.client import Client
    from engine.snapshots import JobFilter

    flt = JobFilter(
        state=args.state, queue=args.queue, type=args.type, text=args.text, tenant=args.tenant
    )
    async with Client(settings) as client:
        page = await client.jobs(flt, limit=args.limit, before=args.before)
    if args.json:
        print_json([j.to_json() for j in page.items])
        return 0
    table(
        ["id", "type", "queue", "priority", "state", "attempts", "created", "error"],
        [
            [
                j.id,
                j.type,
                j.queue,
                j.priority.label,
                j.state.value,
                j.attempts,
                when(j.created_at),
                (j.error_message or j.wait_reason or "")[:60],
            ]
            for j in page.items
        ],
    )
    if page.next_before is not None:
        print(f"(more: --before {page.next_before})")
    return 0


def _summarize(job: int, changes: ChangeSet, as_json: bool) -> None:
    own = next(t for t in changes.transitions if t.job_id == job and not t.is_note)
    others = [t for t in changes.transitions if t.job_id != job and not t.is_note]
    if as_json:
        print_json(
            {
                "id": job,
                "from": own.from_state.value if own.from_state else None,
                "state": own.to_state.value,
                "affected": [
                    {
                        "id": t.job_id,
                        "from": t.from_state.value if t.from_state else None,
                        "to": t.to_state.value,
                    }
                    for t in others
                ],
            }
        )
        return
    from_state = own.from_state.value if own.from_state else "new"
    print(f"job {job}: {from_state} -> {own.to_state.value}")
    for t in others:
        print(
            f"  job {t.job_id}: {t.from_state.value if t.from_state else 'new'} -> "
            f"{t.to_state.value}"
        )


async def run_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel a job."""
    async with writing_client(settings) as client:
        changes = await client.cancel(args.id)
    _summarize(args.id, changes, args.json)
    return 0


async def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    """Retry a job."""
    async with writing_client(settings) as client:
        changes = await client.retry(args.id)
    _summarize(args.id, changes, args.json)
    return 0
