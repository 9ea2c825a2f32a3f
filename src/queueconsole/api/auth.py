"""Bearer tokens and scopes for the HTTP API.

Scopes nest: ``read`` (GETs and the live streams) ⊂ ``submit`` (+ submissions)
⊂ ``operate`` (+ cancel, retry, pause, limits). A route declares the scope it
needs with ``dependencies=[Depends(require(Scope.X))]``; no token, an unknown
or a revoked one is 401 (with ``WWW-Authenticate: Bearer``), a token whose
scope is too small is 403. Secrets are compared as SHA-256 digests with
:func:`hmac.compare_digest` (in the engine's lookup), and never logged: the
access log hides a ``?token=`` query value (``server.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import Request, WebSocket
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from engine.snapshots import TokenInfo
from queueconsole.api.state import state_of
from queueconsole.api.tokens import TokenCache

REALM = "queueconsole"
POLICY_VIOLATION = 1008  # the WebSocket close code for a refused connection (RFC 6455)


class Scope(StrEnum):
    """What a token may do; each scope includes the ones before it."""

    READ = "read"
    SUBMIT = "submit"
    OPERATE = "operate"


class Refused(Exception):
    """Why a request was not let in: the HTTP status, what to tell the client, and the
    RFC 6750 error code (None when no token was sent at all)."""

    def __init__(self, status: int, detail: str, error: str | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error


async def check(connection: HTTPConnection, secret: str | None, scope: Scope) -> TokenInfo | None:
    """The token that may do ``scope`` (None when the server runs without auth), or
    :class:`Refused`."""
    state = state_of(connection)
    if not state.auth_required:
        return None
    if not secret:
        raise Refused(401, "this route needs a token: Authorization: Bearer <secret>", None)
    return await verify(state.tokens, secret, scope)


async def verify(tokens: TokenCache, secret: str, scope: Scope) -> TokenInfo:
    """The live token behind ``secret`` if its scope includes ``scope``, else
    :class:`Refused` (401 unknown or revoked, 403 too small a scope).

    The one check every entry point that takes a token uses: the API's routes and
    streams through :func:`check`, and ``queueconsole serve`` for its browser sessions.
    """
    token = await tokens.token(secret)
    if token is None:
        raise Refused(401, "the token is unknown or revoked", "invalid_token")
    if not token.allows(scope.value):
        raise Refused(
            403,
            f"token {token.name!r} has scope {token.scope!r}; this needs {scope.value!r}",
            "insufficient_scope",
        )
    return token


def bearer_secret(authorization: str) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header value, else None."""
    kind, _, value = authorization.partition(" ")
    return (value.strip() or None) if kind.lower() == "bearer" else None


def _challenge(refused: Refused, scope: Scope) -> HTTPException:
    header = f'Bearer realm="{REALM}"'
    if refused.error is not None:  # RFC 6750: no error code when no token was sent
        header += f', error="{refused.error}", scope="{scope.value}"'
    return HTTPException(refused.status, refused.detail, headers={"WWW-Authenticate": header})


_SCHEME = (
    "`Authorization: Bearer <secret>`, the secret from `queueconsole token create`; the "
    "live streams also take `?token=<secret>` (a browser's EventSource cannot set headers)"
)


class _TokenCheck(HTTPBearer):
    """The dependency :func:`require` returns: one FastAPI dependency (a security scheme,
    so OpenAPI documents it) that reads the secret and checks the scope itself; a
    sub-dependency per step would cost every request FastAPI's solving of each."""

    def __init__(self, scope: Scope, *, allow_query_token: bool) -> None:
        super().__init__(auto_error=False, scheme_name="bearer", description=_SCHEME)
        self.scope = scope
        self.allow_query_token = allow_query_token

    async def __call__(self, request: Request) -> TokenInfo | None:  # type: ignore[override]
        secret = bearer_secret(request.headers.get("authorization", ""))
        if not secret and self.allow_query_token:
            secret = request.query_params.get("token")
        try:
            token = await check(request, secret, self.scope)
        except Refused as refused:
            raise _challenge(refused, self.scope) from None
        request.state.token = token  # the routes read its tenant (queueconsole.api.tenancy)
        return token


def require(
    scope: Scope, *, allow_query_token: bool = False
) -> Callable[[Request], Awaitable[TokenInfo | None]]:
    """A FastAPI dependency that lets in tokens whose scope includes ``scope``.

    Use it as ``Depends(require(Scope.READ))``. The secret comes from the
    ``Authorization: Bearer`` header; with ``allow_query_token`` also from a
    ``?token=`` query parameter (what a browser's EventSource can send). The
    dependency returns the token (None when the server runs with ``--no-auth``).
    """
    return _TokenCheck(scope, allow_query_token=allow_query_token)


def _websocket_secret(ws: WebSocket) -> str | None:
    return bearer_secret(ws.headers.get("authorization", "")) or ws.query_params.get("token")


async def authenticate_websocket(ws: WebSocket, scope: Scope) -> bool:
    """Whether ``ws`` may connect with ``scope`` (Bearer header or ``?token=``).

    When it may not, the connection is accepted and at once closed with 1008
    (policy violation) and the reason, so a browser, which never sees the status
    of a refused handshake, learns why; False is returned and the caller returns.
    """
    try:
        ws.state.token = await check(ws, _websocket_secret(ws), scope)
    except Refused as refused:
        await ws.accept()
        await ws.close(code=POLICY_VIOLATION, reason=refused.detail[:120])
        return False
    return True
