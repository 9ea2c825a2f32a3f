"""``queueconsole api`` (serve the HTTP API) and ``queueconsole token`` (its tokens).

FastAPI and uvicorn are imported only when ``api`` runs: every command builds
the whole parser, and ``queueconsole submit`` should not pay for a web framework.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

from engine.config import Settings
from engine.errors import UserError
from queueconsole.cli.arguments import whole_number
from queueconsole.cli.logging_options import add_logging_arguments, configure_logging
from queueconsole.cli.output import print_json, table, when

DEFAULT_HOST = "127.0.0.1"  # the API is reachable from this machine only unless asked
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
SCOPES = ("read", "submit", "operate")
MAX_WORKERS = 64  # more processes than this on one port is a mistake, not a setting
# prometheus_client's own variable (engine.metrics.exporter reads it): where the
# processes of `api --workers N` share /metrics counters. Set before prometheus_client
# is imported, which is why the name is not imported from there.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_api_arguments(
    p: argparse.ArgumentParser, *, port_flags: tuple[str, ...], default_port: int | None
) -> None:
    """The flags ``api`` and ``engine`` share: address, port, auth and body size. The
    engine serves nothing unless given a port; ``api`` has a default one."""
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        metavar="ADDR",
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    p.add_argument(
        *port_flags,
        dest="api_port",
        type=whole_number,
        metavar="P",
        default=default_port,
        help=f"TCP port (default {default_port})"
        if default_port is not None
        else "serve the HTTP API, /metrics and /healthz on this port "
        "(--metrics-port is the same flag)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without tokens; refused unless --host is a loopback address",
    )
    p.add_argument(
        "--max-body-bytes",
        type=whole_number,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="refuse larger request bodies with 413 (default 16 MiB)",
    )


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``api`` and ``token``."""
    p = sub.add_parser(
        "api",
        parents=parents,
        help="serve the HTTP API (submit, read, operate; /metrics, /healthz, /docs)",
        description="Serve the HTTP API with uvicorn until SIGTERM or Ctrl-C.",
    )
    add_api_arguments(p, port_flags=("--port",), default_port=DEFAULT_PORT)
    p.add_argument(
        "--workers",
        type=whole_number,
        default=1,
        metavar="N",
        help="processes serving the port (default 1); one process tops out near one "
        "core, so give about one per core the API may use",
    )
    # Internal: set by the parent on the processes it starts for --workers.
    p.add_argument("--child-of", type=whole_number, default=None, help=argparse.SUPPRESS)
    add_logging_arguments(p)
    p.set_defaults(handler=run_api)

    p = sub.add_parser(
        "token",
        parents=parents,
        help="HTTP API tokens: create, list, revoke",
        description="Bearer tokens for the HTTP API. Only a hash of each secret is stored.",
    )
    verbs = p.add_subparsers(dest="token_command", metavar="ACTION", parser_class=type(p))
    verbs.required = True
    a = verbs.add_parser(
        "create", parents=parents, help="create a token and print its secret, once"
    )
    a.add_argument("name", metavar="NAME", help="a unique name, e.g. the service that uses it")
    a.add_argument(
        "--scope",
        required=True,
        choices=SCOPES,
        help="read (GETs, streams) < submit (+ submissions) < operate (+ cancel, retry, "
        "pause, limits)",
    )
    a.add_argument(
        "--tenant",
        metavar="T",
        help="bind the token to tenant T: it sees, submits and operates on T's jobs only",
    )
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_token_create)
    a = verbs.add_parser("list", parents=parents, help="every token (never a secret)")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_token_list)
    a = verbs.add_parser(
        "revoke", parents=parents, help="stop a token from working (within 5 s everywhere)"
    )
    a.add_argument("token", metavar="NAME|ID")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=run_token_revoke)


def check_api_arguments(args: argparse.Namespace) -> None:
    """Refuse flags that cannot work, naming them."""
    from queueconsole.api.server import check_no_auth

    if args.api_port is not None and not 0 <= args.api_port <= 65535:
        raise UserError(f"port {args.api_port} is not a TCP port (0 to 65535)")
    if args.max_body_bytes < 1024:
        raise UserError(f"--max-body-bytes {args.max_body_bytes}: give at least 1024")
    check_no_auth(args.host, args.no_auth)


async def serve_until_stopped(args: argparse.Namespace, settings: Settings) -> int:
    """``queueconsole api``: serve until SIGTERM/SIGINT, then finish open requests.

    With ``--workers N`` this process serves too and keeps N-1 children serving the
    same port (:mod:`queueconsole.api.process_group`).
    """
    from engine.config import to_environ
    from engine.readapi.reader import StatusReader
    from queueconsole.api.app import create_app
    from queueconsole.api.process_group import (
        READY_LINE,
        ApiChildren,
        child_argv,
        watch_parent,
    )
    from queueconsole.api.server import ApiServer

    reader = StatusReader(settings, pool_size=1, application_name="queueconsole-api")
    try:
        await reader.require_database()  # exit 3 naming PostgreSQL, 2 if not migrated
    finally:
        await reader.close()
    parent_pid: int | None = args.child_of
    shared_port = parent_pid is not None or args.workers > 1
    app = create_app(
        settings,
        auth=not args.no_auth,
        max_body_bytes=args.max_body_bytes,
        count_events=parent_pid is None,
    )
    server = ApiServer(app, host=args.host, port=args.api_port, reuse_port=shared_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    children: ApiChildren | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        if parent_pid is not None:
            watcher = asyncio.create_task(watch_parent(parent_pid, stop))
            print(READY_LINE, flush=True)
        elif args.workers > 1:
            argv = child_argv(
                host=args.host,
                port=server.port,
                no_auth=args.no_auth,
                max_body_bytes=args.max_body_bytes,
            )
            children = ApiChildren(argv, {**os.environ, **to_environ(settings)}, args.workers - 1)
            await children.start()
        if parent_pid is None:
            auth = "no auth (loopback only)" if args.no_auth else "tokens required"
            processes = f"; {args.workers} processes" if args.workers > 1 else ""
            print(
                f"HTTP API on {server.url} ({auth}{processes}); docs at {server.url}/docs",
                flush=True,
            )
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await asyncio.gather(
            server.stop(), children.stop() if children is not None else asyncio.sleep(0)
        )
    return 0


def run_api(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the API on uvloop (uvicorn's fastest loop), in the foreground."""
    import uvloop

    configure_logging(settings)
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UserError(f"--workers {args.workers}: give 1 to {MAX_WORKERS} processes")
    shared: str | None = None
    if args.workers > 1 and args.child_of is None:
        # Before any metric exists (checking the arguments imports the API package):
        # prometheus_client picks where counters live when it is imported.
        if "prometheus_client" in sys.modules:
            raise RuntimeError("prometheus_client was imported before --workers could set it up")
        shared = tempfile.mkdtemp(prefix="queueconsole-api-metrics-")
        os.environ[MULTIPROCESS_DIR_ENV] = shared
    try:
        check_api_arguments(args)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(serve_until_stopped(args, settings))
    finally:
        if shared is not None:
            os.environ.pop(MULTIPROCESS_DIR_ENV, None)
            with contextlib.suppress(OSError):
                shutil.rmtree(shared)


# -- tokens -------------------------------------------------------------------


async def run_token_create(args: argparse.Namespace, settings: Settings) -> int:
    """Create a token; its secret is printed now and never again."""
    from engine.client import Client

    async with Client(settings) as client:
        created = await client.create_token(args.name, args.scope, args.tenant)
    if args.json:
        print_json({**created.token.to_json(), "secret": created.secret})
    else:
        print(
            f"token {created.token.name} (scope {created.token.scope}"
            + (f", tenant {created.token.tenant}" if created.token.tenant else "")
            + ") created. Its secret, "
            "shown only now (send it as `Authorization: Bearer <secret>`):"
        )
        print(created.secret)
    return 0


async def run_token_list(args: argparse.Namespace, settings: Settings) -> int:
    """List tokens: names, scopes, dates; never secrets."""
    from engine.client import Client

    async with Client(settings) as client:
        tokens = await client.tokens()
    if args.json:
        print_json([t.to_json() for t in tokens])
    elif not tokens:
        print("no API tokens: create one with `queueconsole token create NAME --scope read`")
    else:
        table(
            ["id", "name", "scope", "tenant", "created", "last used", "revoked"],
            [
                [
                    t.id,
                    t.name,
                    t.scope,
                    t.tenant or "(all)",
                    when(t.created_at),
                    when(t.last_used_at),
                    when(t.revoked_at),
                ]
                for t in tokens
            ],
        )
    return 0


async def run_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a token by name or id."""
    from engine.client import Client

    async with Client(settings) as client:
        token, changed = await client.revoke_token(args.token)
    if args.json:
        print_json({**token.to_json(), "changed": changed})
    elif changed:
        print(f"token {token.name} revoked; servers stop accepting it within 5 s")
    else:
        print(f"token {token.name} was already revoked")
    return 0
