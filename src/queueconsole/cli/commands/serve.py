"""``queueconsole serve``: the console in a browser (textual-serve), behind API tokens.

aiohttp, textual-serve and the API's auth are imported only when ``serve`` runs:
every command builds the whole parser.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any
from urllib.parse import urlsplit

from engine.config import Settings
from engine.errors import UserError
from queueconsole.cli.arguments import whole_number
from queueconsole.cli.logging_options import add_logging_arguments, configure_logging
from queueconsole.cli.settings import resolve

DEFAULT_HOST = "127.0.0.1"  # this machine only unless asked
DEFAULT_PORT = 8081  # next to the HTTP API's 8080
DEFAULT_MAX_CONSOLES = 8


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``serve``."""
    p = sub.add_parser(
        "serve",
        parents=parents,
        help="serve the console to web browsers (one attached console per tab), behind tokens",
        description="Serve the console to browsers until SIGTERM or Ctrl-C. Open "
        "http://HOST:PORT/?token=SECRET once; the browser then keeps a session cookie. "
        "A token with scope operate gets a console that acts; any other token a read-only one. "
        "Each tab runs `queueconsole console --attach`: run `queueconsole engine` for the work.",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        metavar="ADDR",
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    p.add_argument(
        "--port",
        type=whole_number,
        default=DEFAULT_PORT,
        metavar="P",
        help=f"TCP port (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        default=None,
        help="the address browsers use, when it is not http://HOST:PORT (a proxy in front, "
        "or --host 0.0.0.0)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="every console read-only, whatever its token may do",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without tokens; refused unless --host is a loopback address",
    )
    p.add_argument(
        "--max-consoles",
        type=whole_number,
        default=DEFAULT_MAX_CONSOLES,
        metavar="N",
        help=f"browser consoles open at once, each a process (default {DEFAULT_MAX_CONSOLES})",
    )
    add_logging_arguments(p)
    p.set_defaults(handler=run_serve)


def check_serve_arguments(args: argparse.Namespace) -> None:
    """Refuse flags that cannot work, naming them (the API's rule for --no-auth)."""
    from queueconsole.api.server import check_no_auth

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a TCP port (0 to 65535)")
    if args.max_consoles < 1:
        raise UserError(f"--max-consoles {args.max_consoles}: give at least 1")
    if args.public_url is not None:
        parts = urlsplit(args.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UserError(
                f"--public-url {args.public_url!r} is not an http:// or https:// address"
            )
    check_no_auth(args.host, args.no_auth)


async def serve_until_stopped(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT, then close every console (each child quits)."""
    from engine.client import Client
    from engine.readapi.reader import StatusReader
    from queueconsole.api.tokens import TokenCache
    from queueconsole.browser.access import Gate
    from queueconsole.browser.server import ConsoleServer

    reader = StatusReader(settings, pool_size=1, application_name="queueconsole-serve")
    try:
        await reader.require_database()  # exit 3 naming PostgreSQL, 2 if not migrated
    finally:
        await reader.close()
    async with Client(settings) as client:
        tokens = None if args.no_auth else TokenCache(client.use_token)
        server = ConsoleServer(
            settings,
            config_file=resolve(args).config_file,
            gate=Gate(tokens, read_only=args.read_only),
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            max_consoles=args.max_consoles,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        try:
            url = server.public_url
            if args.no_auth:
                print(f"console for browsers on {url} (no auth: loopback only)", flush=True)
            else:
                print(
                    f"console for browsers on {url} (tokens required): open "
                    f"{url}/?token=<secret> once",
                    flush=True,
                )
                if not any(not t.revoked for t in await client.tokens()):
                    print(
                        "no live API token yet: create one with "
                        "`queueconsole token create NAME --scope read|operate`",
                        flush=True,
                    )
            await stop.wait()
        finally:
            await server.stop()
    return 0


async def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``queueconsole serve``."""
    configure_logging(settings)
    check_serve_arguments(args)
    return await serve_until_stopped(args, settings)
