"""Refuse request bodies over a size with 413, without reading them.

A body whose ``Content-Length`` is too large is refused before a byte of it is
read; a chunked body is counted as it arrives and refused at the first chunk
past the limit. Pure ASGI (no per-request task or copy), so it costs the
submit path next to nothing.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queueconsole.api.problems import problem

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 16 * MIB
"""A batch of 10,000 jobs with small payloads is about 1-2 MiB; 16 MiB leaves room for
payloads of a few hundred bytes each without letting one request hold the server's memory."""


class BodyLimit:
    """ASGI middleware: 413 problem+json for bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            response = problem(413, self._detail(f"{length:,}"), headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _detail(self, size: str) -> str:
        return f"the request body is {size} bytes; this server accepts at most {self.max_bytes:,}"

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body on to
                    # the app's handler (problems.py), which answers with this status.
                    raise HTTPException(413, self._detail(f"over {self.max_bytes:,}"))
            return message

        return counted


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
