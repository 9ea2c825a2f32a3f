"""Entry point of the ``queueconsole`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from engine.config import Settings
from engine.errors import ServiceUnavailable, UserError
from queueconsole.cli.commands import (
    admin,
    api,
    config,
    console,
    dead,
    doctor,
    jobs,
    operations,
    routes,
    runtime,
    serve,
    status,
    tenants,
)
from queueconsole.cli.commands.console import with_default_command
from queueconsole.cli.errors import EXIT_UNAVAILABLE, EXIT_USAGE, report
from queueconsole.cli.settings import resolve
from queueconsole.version import VersionAction

# One module per group of commands, each with ``register(sub, parents)``; the
# order is the order of ``--help``.
COMMAND_MODULES = (
    admin,
    jobs,
    status,
    doctor,
    config,
    routes,
    runtime,
    operations,
    tenants,
    dead,
    api,
    serve,
    console,
)

Handler = Callable[[argparse.Namespace, Settings], int | Coroutine[Any, Any, int]]
"""What a command's ``register`` sets as ``handler``: a function, sync or async, of the
parsed arguments and the settings that returns the exit code."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit 2)."""

    def error(self, message: str) -> NoReturn:
        report(f"{message} (see `{self.prog} --help`)", prog=self.prog)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> Parser:
    """The full command line; each command module adds its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML config file (default: $QUEUECONSOLE_CONFIG, else "
        "$XDG_CONFIG_HOME/queueconsole/config.toml if it exists); environment variables "
        "and flags override it",
    )
    parser = Parser(
        prog="queueconsole",
        description="Terminal console and command line for a durable distributed job queue.",
        parents=[common],
    )
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; user mistakes never show a traceback."""
    parser = build_parser()
    try:
        args = parser.parse_args(with_default_command(parser, argv))
    except SystemExit as exc:  # --help, --version, or a usage error already reported
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # pika logs every connection step, and each failed connect as several ERROR lines;
    # our own messages already say which service failed and why.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    settings = None
    try:
        settings = resolve(args).settings
        code = handler(args, settings)
        return asyncio.run(code) if isinstance(code, Coroutine) else code
    except ServiceUnavailable as exc:
        report(settings.redact(str(exc)) if settings else str(exc))
        return EXIT_UNAVAILABLE
    except UserError as exc:
        report(settings.redact(str(exc)) if settings else str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
