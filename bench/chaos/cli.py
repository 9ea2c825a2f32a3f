"""``python -m bench.chaos``: every scenario against private servers, one table.

The run starts its own PostgreSQL, Redis and RabbitMQ (fresh data
directories, free ports on 127.0.0.1, the installed server binaries) once and
gives each scenario a database and a namespace of its own on them, so the
machine's shared servers are never touched: a scenario may stop, flush,
purge or reconfigure its servers freely. Everything is stopped and the state
directory removed at the end, and on Ctrl-C or SIGTERM.

The exit status is 0 when every scenario lost nothing, completed nothing
twice, ran no dependent early and ended every job as intended; 1 otherwise;
3 when the private servers could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.chaos.faults import EXTRA, SCENARIOS, Timing, run
from bench.chaos.measure import Recovery
from bench.chaos.runner import ChaosError, Row, RunOptions, Services, destroy_all
from bench.common import print_table
from engine.config import Settings
from engine.db.migrate import migrate
from engine.worker.registry import with_demo_jobs
from localservices import LocalServiceError, LocalStack

MAX_CONNECTIONS = 300
"""The private PostgreSQL's limit: two engines' worker pools during kill-supervisor fit."""
HEADERS = (
    "scenario",
    "submitted",
    "completed",
    "failed (expected)",
    "unexpected",
    "lost",
    "completed >1",
    "order violations",
    "recovery (s)",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="Chaos run: faults injected under load against private servers; "
        "one table of what was lost.",
    )
    parser.add_argument(
        "--jobs", type=int, default=10_000, metavar="N", help="jobs per scenario (10,000)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, *EXTRA],
        metavar="NAME",
        help=f"run only these (repeatable): {', '.join(SCENARIOS)} (all by default); "
        f"also {', '.join(EXTRA)}",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes per queue (1)"
    )
    parser.add_argument("--seed", type=int, default=7, help="workload and fault seed")
    parser.add_argument(
        "--settle-timeout-s",
        type=float,
        default=600.0,
        metavar="S",
        help="longest wait for a scenario's jobs to end (600)",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep engine logs here (otherwise kept only when a scenario shows a problem)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.workers < 1:
        parser.error("--jobs and --workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = list(dict.fromkeys(args.scenario or SCENARIOS))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    state = Path(tempfile.mkdtemp(prefix="qc-chaos-"))
    state.chmod(0o711)  # PostgreSQL runs as another account when we are root
    logs = args.logs or state / "logs"
    stack = LocalStack(state, fsync=False)
    assert stack.postgres is not None
    stack.postgres.server_settings["max_connections"] = str(MAX_CONNECTIONS)
    rows: list[Row] = []
    try:
        began = time.monotonic()
        try:
            stack.start()
        except LocalServiceError as exc:
            print(f"chaos: {exc}", file=sys.stderr)
            return 3
        _say(f"private servers up in {time.monotonic() - began:.1f} s: {state}")
        options = RunOptions(
            jobs=args.jobs,
            workers_per_queue=args.workers,
            seed=args.seed,
            settle_timeout_s=args.settle_timeout_s,
            say=_say,
        )
        rows = asyncio.run(_run_all(stack, names, options, logs))
    except KeyboardInterrupt:
        _say("interrupted; stopping everything")
        return 130
    finally:
        destroy_all()
        stack.close()
        kept = _keep_logs(logs, rows, args.logs is not None)
        shutil.rmtree(state, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    print_report(rows, kept)
    return 0 if rows and all(_sound(r) for r in rows) and len(rows) == len(names) else 1


async def _run_all(
    stack: LocalStack, names: Sequence[str], options: RunOptions, logs: Path
) -> list[Row]:
    rows = []
    run_tag = secrets.token_hex(2)
    for name in names:
        settings = _scenario_settings(stack, name, run_tag)
        await migrate(settings)
        services = Services(settings, stack.postgres, stack.redis, stack.rabbitmq)
        try:
            scenario = SCENARIOS.get(name) or EXTRA[name]
            rows.append(await run(scenario, services, options, timing=Timing(), log_dir=logs))
        except ChaosError as exc:
            _say(f"[{name}] could not be run: {exc}")
    return rows


def _scenario_settings(stack: LocalStack, name: str, run_tag: str) -> Settings:
    """A database and a namespace of the scenario's own on the private servers."""
    base = stack.settings(Settings())
    assert stack.postgres is not None
    database = f"chaos_{name.replace('-', '_')}_{run_tag}"
    return with_demo_jobs(  # the workload is made of demo.* jobs
        base.evolve(
            database_url=stack.postgres.url_for(database), namespace=f"chaos-{name}-{run_tag}"
        )
    )


def _sound(row: Row) -> bool:
    return row.tally.clean and row.tally.unexpected == 0


def format_recovery(healed: Recovery | None) -> str:
    """Seconds with one decimal; ``-`` without a fault, ``never`` when it never recovered."""
    if healed is None:
        return "-"
    if math.isinf(healed.seconds):
        return "never"
    return f"{healed.seconds:.1f}"


def table_rows(rows: Sequence[Row]) -> list[list[object]]:
    """The table's cells, one list per scenario."""
    return [
        [
            r.scenario,
            f"{r.tally.submitted:,}",
            f"{r.tally.completed:,}",
            f"{r.tally.failed_expected:,}",
            r.tally.unexpected,
            r.tally.lost,
            r.tally.completed_twice,
            r.tally.order_violations,
            format_recovery(r.recovery),
        ]
        for r in rows
    ]


def print_report(rows: Sequence[Row], kept: Path | None) -> None:
    """The table on stdout, then one paragraph of notes per scenario."""
    if not rows:
        print("no scenario ran")
        return
    print_table(HEADERS, table_rows(rows))
    print()
    for r in rows:
        print(f"{r.scenario}: " + "; ".join(r.notes))
        t = r.tally
        problems = [
            (t.lost_ids, "lost, e.g. jobs"),
            (t.unexpected_ids, "ended otherwise than intended, e.g. jobs"),
            (t.completed_twice_ids, "completed more than once, e.g. jobs"),
            (t.violating_edges, "dependency edges run out of order (dependency, dependent), e.g."),
        ]
        for sample, what in problems:
            if sample:
                print(f"  {what} {', '.join(str(s) for s in sample)}")
    print()
    print(
        "recovery: seconds from the end of the fault (server back, kill or purge done) until "
        "every run in flight at the fault had ended, completions were back to half the "
        "pre-fault rate, and every job the fault held up in a queue had started; for "
        "kill-workers the longest over all kills."
    )
    if kept is not None:
        print(f"engine logs: {kept}")


def _keep_logs(logs: Path, rows: Sequence[Row], asked: bool) -> Path | None:
    """Where the engine logs are after the state directory is gone (None: not kept)."""
    if asked:
        return logs
    if not rows or all(_sound(r) for r in rows) or not logs.exists():
        return None
    target = Path(tempfile.mkdtemp(prefix="qc-chaos-logs-"))
    shutil.copytree(logs, target, dirs_exist_ok=True)
    return target


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: unwind, stopping every process and server on the way out."""
    raise KeyboardInterrupt
