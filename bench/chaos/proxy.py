"""A TCP proxy in front of PostgreSQL that drops connections at the worst moment.

When armed, it cuts a connection right after the server ended a transaction
(committed it, or ran one statement in autocommit) and before the client
heard so: the server's answer up to and including its ReadyForQuery message
is withheld and both sides are reset. The client gets "connection closed"
for work that was done — an in-doubt commit, as a network failure, a
proxy or load-balancer restart, or a crash between commit and reply gives
one. Engine code that treats every error as "nothing happened" is caught out.

It speaks just enough of the PostgreSQL protocol to find message boundaries:
every server message is a type byte and a length, except the one-byte answer
to an SSL request. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from collections.abc import Callable

LOOPBACK = "127.0.0.1"
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
READY_FOR_QUERY = b"Z"
COMMAND_COMPLETE = b"C"
IDLE = b"I"
"""ReadyForQuery status: no transaction open (the last one just ended)."""
READ_SIZE = 65536


class CommitCutter:
    """Forwards 127.0.0.1:``port`` to the server at ``upstream_port``; cuts at commits.

    Args:
        upstream_port: the PostgreSQL server's port on 127.0.0.1.
        probability: chance that an armed proxy cuts a given transaction end.
        seed: for the random choices, so a run can be repeated.
        on_cut: called after each cut (on the event loop).
    """

    def __init__(
        self,
        upstream_port: int,
        probability: float,
        *,
        seed: int = 0,
        on_cut: Callable[[], None] | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.probability = probability
        self.armed = False
        self.transactions = 0
        """Transaction ends seen while armed."""
        self.cuts = 0
        self._rng = random.Random(seed)
        self.on_cut = on_cut
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """Where clients connect."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, server_w))
        ssl_asked = asyncio.Event()
        try:
            await asyncio.gather(
                self._upstream(client_r, server_w, ssl_asked),
                self._downstream(server_r, client_w, server_w, ssl_asked),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_w, server_w):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
                self._writers.discard(writer)

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ssl_asked: asyncio.Event
    ) -> None:
        first = await reader.read(8)
        if first == SSL_REQUEST:
            ssl_asked.set()
        writer.write(first)
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
        writer.transport.abort()

    async def _downstream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        ssl_asked: asyncio.Event,
    ) -> None:
        # Messages pass at once, except from a CommandComplete to the ReadyForQuery that
        # follows it: held there, so the answer to a finished command can be withheld
        # whole. (Nothing else waits on the client in between: authentication and
        # prepared-statement descriptions carry no CommandComplete.)
        held = b""
        buffer = b""
        ssl_answered = False
        while data := await reader.read(READ_SIZE):
            buffer += data
            out = b""
            if ssl_asked.is_set() and not ssl_answered and buffer:
                ssl_answered = True  # one byte, 'N' (no SSL here) or 'S'
                out, buffer = buffer[:1], buffer[1:]
            while len(buffer) >= 5:
                length = struct.unpack("!i", buffer[1:5])[0]
                if len(buffer) < 1 + length:
                    break
                message, buffer = buffer[: 1 + length], buffer[1 + length :]
                kind = message[:1]
                if kind == COMMAND_COMPLETE or held:
                    held += message
                else:
                    out += message
                if kind != READY_FOR_QUERY or not held:
                    continue
                if message[5:6] == IDLE and self._cut_now():
                    writer.write(out)
                    await writer.drain()
                    writer.transport.abort()
                    upstream.transport.abort()
                    return
                out += held
                held = b""
            if out:
                writer.write(out)
                await writer.drain()
        writer.transport.abort()

    def _cut_now(self) -> bool:
        if not self.armed:
            return False
        self.transactions += 1
        if self._rng.random() >= self.probability:
            return False
        self.cuts += 1
        if self.on_cut is not None:
            self.on_cut()
        return True
