"""``queueconsole`` (no command), ``queueconsole console`` and ``queueconsole demo``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.config import Settings
from engine.worker.registry import with_demo_jobs

DEFAULT_COMMAND = "console"
_GLOBAL_VALUE_OPTIONS = frozenset({"--config"})
_GLOBAL_EXITS = frozenset({"-h", "--help", "--version"})


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``console`` and ``demo``."""
    p = sub.add_parser(
        "console",
        parents=parents,
        help="open the console (the default when no command is given)",
        description="Open the terminal console. It embeds the engine (dispatcher, reconciler, "
        "local workers) unless --attach is given; quitting drains the embedded workers.",
    )
    _console_options(p)
    p.set_defaults(handler=run_console_command)

    p = sub.add_parser(
        "demo",
        parents=parents,
        help="start services if needed, submit a demo workload and open the console",
    )
    _console_options(p, attach=False)
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where private service instances live (default: ~/.local/state/queueconsole/demo)",
    )
    p.add_argument(
        "--no-trickle", action="store_true", help="submit the workload once, no steady new work"
    )
    p.set_defaults(handler=run_demo_command)


def _console_options(p: argparse.ArgumentParser, *, attach: bool = True) -> None:
    if attach:
        p.add_argument(
            "--attach",
            action="store_true",
            help="monitor and control an engine running elsewhere instead of embedding one",
        )
    p.add_argument("--read-only", action="store_true", help="disable every action")
    p.add_argument(  # `queueconsole serve` says which token made a browser console read-only
        "--read-only-reason", metavar="TEXT", default=None, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=None,
        help="local workers of the embedded engine",
    )
    p.add_argument(
        "--memory-budget-mb",
        type=int,
        metavar="MB",
        default=None,
        help="memory the embedded engine's workers may use together",
    )


def with_default_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> list[str]:
    """``argv`` with ``console`` put first when no command was named.

    So ``queueconsole --read-only`` and ``queueconsole --config x.toml`` open the
    console, while ``queueconsole --help`` still prints help.
    """
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    commands: set[str] = set()
    for action in parser._actions:  # argparse keeps its subcommands here
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _GLOBAL_EXITS or arg in commands:
            return args
        if arg in _GLOBAL_VALUE_OPTIONS:
            skip = True
            continue
        if not arg.startswith("-"):
            return args  # an unknown command: let argparse say so
    return [DEFAULT_COMMAND, *args]


async def run_console_command(args: argparse.Namespace, settings: Settings) -> int:
    """Open the console on the configured installation."""
    from queueconsole.console.runner import run_console

    return await run_console(
        settings,
        attach=args.attach,
        read_only=args.read_only,
        read_only_reason=args.read_only_reason,
        workers=args.workers,
        memory_budget_mb=args.memory_budget_mb,
    )


async def run_demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Services up (private ones if needed), schema migrated, workload submitted, console open."""
    from engine.db.migrate import migrate  # Alembic: only for the commands that migrate
    from localservices import ensure_services
    from queueconsole.console.runner import run_console, state_dir
    from queueconsole.demo.workload import DEMO_WORKERS, demo_background

    directory = args.state_dir or state_dir() / "demo"
    # It blocks (a private RabbitMQ takes seconds to boot): keep the loop free.
    settings, services = await asyncio.to_thread(ensure_services, settings, directory)
    settings = with_demo_jobs(settings)  # the workload's demo.* types, in every worker
    try:
        await migrate(settings)
        return await run_console(
            settings,
            read_only=args.read_only,
            workers=DEMO_WORKERS
            if args.workers is None
            else dict.fromkeys(DEMO_WORKERS, args.workers),
            memory_budget_mb=args.memory_budget_mb,
            background=[demo_background(keep_trickling=not args.no_trickle)],
        )
    finally:
        if services is not None:
            services.close()
