"""textual-serve's server behind the token gate, run inside an event loop we own.

Every request passes :meth:`ConsoleServer.gate_middleware`: the secret comes
from ``Authorization: Bearer``, else ``?token=``, else the session cookie. A
page opened with ``?token=`` is answered with the cookie and a redirect to the
same address without the token. The console's WebSocket also needs a same-origin
``Origin`` (a page on another site cannot open a console with the visitor's
cookie), and is closed when its token is revoked.

Logs name the token, never its secret: aiohttp's access log gets the same
``token=`` redaction as the API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiohttp import WSMsgType, web
from textual_serve.server import Server

from engine.config import Settings
from queueconsole.api.auth import POLICY_VIOLATION, Refused, bearer_secret
from queueconsole.api.server import TokenRedactor, bind
from queueconsole.browser.access import Access, Gate, challenge, refused_page
from queueconsole.browser.child import ConsoleSession, child_environment, console_command
from queueconsole.browser.sessions import COOKIE, SessionStore

log = logging.getLogger(__name__)

DEFAULT_PORT = 8081
MAX_CONSOLES = 8  # consoles open at once: each is a Python process of its own (~100 MB)
RECHECK_S = 3.0  # seconds between checks that an open console's token is still live
HEARTBEAT_S = 15.0  # seconds between WebSocket pings (textual-serve's own choice)
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is at capacity (RFC 6455)
ACCESS = web.RequestKey("queueconsole_access", Access)
"""Where the middleware leaves a let-in request's :class:`Access`."""

_REDACTOR = TokenRedactor()

SECURITY_HEADERS = {
    # Only this server's own scripts, styles, fonts and socket: the page's link to a web
    # font service is never fetched (an operator's browser tells nobody it opened the
    # console), and another site can neither frame the console (a hidden frame could
    # take an operator's keys) nor read it.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConsoleServer(Server):
    """The console for browsers on ``host:port``.

    Args:
        settings: the installation every console attaches to.
        config_file: the config file the settings were read from, for the children.
        gate: who may in, and with which console.
        host: address to listen on.
        port: TCP port; 0 picks a free one (:attr:`port` tells which after :meth:`start`).
        public_url: the address browsers use, when not ``http://host:port`` (behind a
            proxy, or listening on 0.0.0.0): the page tells the browser where its
            WebSocket is from it.
        max_consoles: consoles open at once; a further tab is told to try again later.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        config_file: Path | None,
        gate: Gate,
        host: str,
        port: int,
        public_url: str | None = None,
        max_consoles: int = MAX_CONSOLES,
    ) -> None:
        super().__init__("queueconsole console", host=host, port=port, title="queueconsole")
        self._explicit_public_url = public_url
        self._environment = child_environment(settings, config_file)
        self.gate = gate
        self.sessions = SessionStore()
        self.max_consoles = max_consoles
        self._open: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Listen (a UserError names the address when that fails) and serve."""
        for name in ("aiohttp.access", "aiohttp.server", "aiohttp.web"):
            logger = logging.getLogger(name)
            if _REDACTOR not in logger.filters:
                logger.addFilter(_REDACTOR)
        sock = bind(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        self.public_url = (self._explicit_public_url or self.url).rstrip("/")
        # textual-serve's own app: its page template, /ws (our handle_websocket), /download
        # and /static. A private method, hence the <2 cap on textual-serve in pyproject.
        app = await self._make_app()
        app.middlewares.append(self.gate_middleware)
        app.on_response_prepare.append(_add_security_headers)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("console for browsers on %s", self.public_url)

    async def stop(self) -> None:
        """Close every open console (each child quits), then stop listening."""
        for websocket in list(self._open):
            await websocket.close(code=1001, message=b"the server is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """``http://host:port`` as this server listens."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def open_consoles(self) -> int:
        """Browser consoles open now."""
        return len(self._open)

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: textual-serve prints a banner here; the command prints one line."""

    # -- the gate ---------------------------------------------------------------

    @web.middleware
    async def gate_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Let in requests with a live token; trade a ``?token=`` for a session cookie."""
        from_query = request.query.get("token")
        secret = (
            bearer_secret(request.headers.get("Authorization", ""))
            or from_query
            or self.sessions.secret(request.cookies.get(COOKIE))
        )
        try:
            access = await self.gate.admit(secret)
        except Refused as refused:
            log.info("refused %s %s: %s", request.method, request.path, refused.detail)
            return web.Response(
                status=refused.status,
                text=refused_page(refused),
                content_type="text/html",
                headers={"WWW-Authenticate": challenge(refused), "Cache-Control": "no-store"},
            )
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if from_query and secret == from_query and request.method == "GET" and not upgrade:
            return self._trade_for_cookie(request, from_query)
        request[ACCESS] = access
        return await handler(request)

    def _trade_for_cookie(self, request: web.Request, secret: str) -> web.Response:
        """Redirect to the same address without ``token=``, with a session cookie."""
        rest = [(k, v) for k, v in request.query.items() if k != "token"]
        location = request.path + (f"?{urlencode(rest)}" if rest else "")
        response = web.Response(
            status=303, headers={"Location": location, "Cache-Control": "no-store"}
        )
        response.set_cookie(
            COOKIE,
            self.sessions.create(secret),
            path="/",
            httponly=True,
            samesite="Lax",  # sent on a link from elsewhere, never on another site's requests
            secure=self.public_url.startswith("https:"),
        )
        return response

    # -- one console per WebSocket ----------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Start a console for this tab and relay it until either side ends."""
        access = request[ACCESS]
        if not _same_origin(request, self.public_url):
            raise web.HTTPForbidden(text="a console opens only from its own page (Origin)")
        websocket = web.WebSocketResponse(heartbeat=HEARTBEAT_S)
        await websocket.prepare(request)
        if len(self._open) >= self.max_consoles:
            busy = f"{self.max_consoles} consoles are open; try again later"
            await websocket.close(code=TRY_AGAIN_LATER, message=busy.encode())
            return websocket
        width = _whole(request.query.get("width"), 80)
        height = _whole(request.query.get("height"), 24)
        session = ConsoleSession(
            console_command(read_only=access.read_only, reason=access.read_only_reason),
            self._environment,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=lambda: _close(websocket),
            download_manager=self.download_manager,
        )
        self._open.add(websocket)
        mode = "read-only" if access.read_only else "operate"
        log.info("console opened (%s) for %s", mode, access.who)
        watcher = asyncio.create_task(
            self._close_when_revoked(websocket, access), name="serve:recheck-token"
        )
        try:
            await session.start(width, height)
            try:
                await self._relay(websocket, session)
            finally:
                await session.stop()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._open.discard(websocket)
            log.info("console closed for %s", access.who)
        return websocket

    async def _relay(self, websocket: web.WebSocketResponse, session: ConsoleSession) -> None:
        """The browser's keys, size and focus to the console, until the socket closes."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                kind, *rest = message.json()
            except (ValueError, TypeError):
                continue  # not ours: a page that speaks the protocol sends JSON arrays
            data = rest[0] if rest else None
            if kind == "stdin" and isinstance(data, str):
                await session.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                await session.set_terminal_size(
                    _whole(str(data.get("width")), 80), _whole(str(data.get("height")), 24)
                )
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await session.blur()
            elif kind == "focus":
                await session.focus()

    async def _close_when_revoked(self, websocket: web.WebSocketResponse, access: Access) -> None:
        """Close the console once its token stops working: within :data:`RECHECK_S` plus
        the token cache's 2 s, the 5 s a revoke promises everywhere."""
        while not websocket.closed:
            await asyncio.sleep(RECHECK_S)
            if not await self.gate.still_valid(access):
                log.info("console closed: %s was revoked", access.who)
                await websocket.close(code=POLICY_VIOLATION, message=b"the token was revoked")
                return


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """:data:`SECURITY_HEADERS` on every answer, refusals included."""
    response.headers.update(SECURITY_HEADERS)


async def _close(websocket: web.WebSocketResponse) -> None:
    """Close the browser's socket: the console exited (the user quit it)."""
    await websocket.close()


def _same_origin(request: web.Request, public_url: str) -> bool:
    """Whether the request's ``Origin`` (when a browser sent one) is this server itself:
    the address it was reached at, or its public URL (a proxy may rewrite ``Host``)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: a browser always sends Origin on a WebSocket
    netloc = urlsplit(origin).netloc.lower()
    return netloc in (request.host.lower(), urlsplit(public_url).netloc.lower())


def _whole(value: str | None, default: int) -> int:
    """A positive size from the browser, else ``default``."""
    try:
        number = int(value or "")
    except ValueError:
        return default
    return number if 0 < number <= 1000 else default
