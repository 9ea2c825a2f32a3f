"""Serving the app with uvicorn inside an event loop someone else owns.

``queueconsole api`` and ``queueconsole engine --api-port`` both run a
:class:`ApiServer`: uvicorn's server driven as a task in the running loop, so the
engine's services and the API share one process and one loop, and the caller's
signal handling (drain on SIGTERM) stays in charge — uvicorn's own signal
handlers are not installed.

Tokens never reach a log: uvicorn's access log shows the request's path and
query, so a ``?token=`` value (what a browser's EventSource sends) is replaced
with ``***`` before the line is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from engine.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
STARTUP_TIMEOUT_S = 60.0  # seconds the app's lifespan may take to open its connections
SHUTDOWN_TIMEOUT_S = 10  # seconds open requests get to finish when the server stops
_TOKEN_RE = re.compile(r"([?&]token=)[^&\s\"]*", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_no_auth(host: str, no_auth: bool) -> None:
    """Refuse ``--no-auth`` on an address other machines can reach."""
    if no_auth and not is_loopback(host):
        raise UserError(
            f"--no-auth is only allowed with a loopback --host (127.0.0.1, ::1, localhost), "
            f"not {host!r}: anyone who can reach {host} could submit and cancel jobs. "
            "Create a token instead: queueconsole token create NAME --scope read|submit|operate"
        )


def redact_tokens(text: str) -> str:
    """``text`` with every ``token=`` query value replaced by ``***``."""
    return _TOKEN_RE.sub(r"\1***", text)


class TokenRedactor(logging.Filter):
    """Hides ``?token=`` values in uvicorn's access log lines (and any other record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_tokens(a) if isinstance(a, str) and "token=" in a.lower() else a
                for a in record.args
            )
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = redact_tokens(record.msg)
        return True


_REDACTOR = TokenRedactor()


def install_redaction() -> None:
    """Add the redacting filter to uvicorn's loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers (whoever runs the loop owns those),
    and whose failed start ends its task instead of raising SystemExit in the loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:
            self.should_exit = True


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on ``host:port``, or a UserError saying why there cannot be one.

    ``reuse_port``: several processes listen on the same port and the kernel spreads
    new connections over them (``queueconsole api --workers N``).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class ApiServer:
    """The app on ``host:port``, served by a task in the running loop.

    Args:
        app: what to serve (its lifespan runs in :meth:`start`).
        host: address to listen on; 127.0.0.1 unless the API must be reached from elsewhere.
        port: TCP port; 0 picks a free one (:attr:`port` tells which after :meth:`start`).
        access_log: log one line per request at INFO (tokens in queries are hidden).
        reuse_port: share the port with other processes (see :func:`bind`).
    """

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = DEFAULT_HOST,
        port: int,
        access_log: bool = True,
        reuse_port: bool = False,
    ) -> None:
        install_redaction()
        self.app = app
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the process's own logging (--log-level/--log-format)
            access_log=access_log,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S,
            ws="websockets-sansio",
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Run the app's lifespan and listen; raise if either fails."""
        sock = bind(self.host, self.port, reuse_port=self.reuse_port)
        self.port = int(sock.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve([sock]), name="api:uvicorn")
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not self._server.started:
                if self._task.done():
                    await self._task  # raises what stopped it, if anything did
                    sock.close()
                    raise UserError(
                        f"the HTTP API could not start on {self.host}:{self.port}; its log says why"
                    )
                await asyncio.sleep(0.02)
        log.info("HTTP API on http://%s:%d (docs at /docs)", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting, let open requests finish, run the lifespan's shutdown."""
        if self._task is None:
            return
        # Event streams never end by themselves; uvicorn waits for open responses
        # before the lifespan's exit, so end them first.
        hub = getattr(self.app.state, "event_hub", None)
        if hub is not None:
            await hub.close()
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
