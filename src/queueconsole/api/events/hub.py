"""One reader per process, shared by every client of the event stream.

The hub runs a single loop over the engine's :class:`EventSource` (one query per
wake-up, however many clients listen) and hands each event to every client whose
filter wants it. A client that resumes from an older id first reads that history
from PostgreSQL at its own pace, then joins the live flow exactly where the hub
is, so nothing is missed and nothing comes twice.

Memory stays bounded: a client's queue holds at most ``max_behind`` events; a
client that falls further behind is dropped with a reason rather than buffered
without end. With no clients the loop stops after ``idle_after_s`` (no reader
work at all until the next client comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from engine.config import Settings
from engine.readapi.event_source import EventSource
from engine.snapshots.transitions import TransitionEvent
from queueconsole.api.events.filters import EventFilter

log = logging.getLogger(__name__)

MAX_BEHIND = 10_000  # events a client may be behind before it is disconnected
IDLE_AFTER_S = 2.0  # seconds the reader keeps going after the last client left
POLL_S = 1.0  # seconds between reads when Redis is silent (a lost publish costs this)
POLL_NO_REDIS_S = 0.25  # seconds between reads while Redis cannot be subscribed
POLL_GAP_S = 0.05  # seconds between reads while a missing id holds events back
HISTORY_PAGE = 1000  # events per read of a resuming client's history
RETRY_S = 1.0  # seconds before the reader tries again after a database error


@dataclass(frozen=True, slots=True)
class Item:
    """An event and its JSON text, encoded once for every client."""

    event: TransitionEvent
    text: str


class StreamClosed(Exception):
    """The client's stream ended on the server's side; ``reason`` says why."""

    def __init__(self, reason: str, *, slow: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slow = slow
        """True when the client fell too far behind (WebSocket close 1013)."""


class Subscription:
    """One client's place in the stream.

    Args:
        hub: the hub it reads from.
        after: the last id the client has (events after it are sent).
        wanted: which events the client wants.
    """

    def __init__(self, hub: EventHub, after: int, wanted: EventFilter) -> None:
        self.hub = hub
        self.cursor = after
        """The last id this client has been given or has had filtered out."""
        self.wanted = wanted
        self.queue: deque[Item] = deque()
        self.live = False
        """False while the client reads its history from PostgreSQL."""
        self.closed: StreamClosed | None = None
        self._ready = asyncio.Event()

    def offer(self, items: list[Item]) -> None:
        """Queue what the client wants of a batch (called by the hub's loop)."""
        wanted, cursor = self.wanted, self.cursor
        for item in items:
            if item.event.id > cursor and wanted.matches(item.event):
                self.queue.append(item)
        if items:
            self.cursor = max(cursor, items[-1].event.id)
        if len(self.queue) > self.hub.max_behind:
            self.queue.clear()
            self.end(
                StreamClosed(
                    f"more than {self.hub.max_behind} events behind; reconnect with the "
                    "last id received to resume",
                    slow=True,
                )
            )
        elif self.queue:
            self._ready.set()

    def end(self, why: StreamClosed) -> None:
        """Stop this subscription; the client's next read raises ``why``."""
        if self.closed is None:
            self.closed = why
            self.hub.detach(self)
        self._ready.set()

    async def next_batch(self, timeout_s: float, limit: int = 500) -> list[Item]:
        """The next events for this client, at most ``limit``; empty after ``timeout_s``
        without any. Raises :class:`StreamClosed` once the stream has ended."""
        if not self.live:
            items = await self._history(limit)
            if items:
                return items
        if self.closed is not None:
            raise self.closed
        if not self.queue:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
            if self.closed is not None:
                raise self.closed
        n = min(limit, len(self.queue))
        return [self.queue.popleft() for _ in range(n)]

    async def _history(self, limit: int) -> list[Item]:
        """Read history until something matches or the client has caught up with the
        hub (then it goes live, with no await between the check and the switch)."""
        while True:
            if self.closed is not None:
                raise self.closed
            upto = self.hub.settled
            if self.cursor >= upto:
                self.hub.attach(self)
                return []
            page = await self.hub.source.history(self.cursor, upto, max(limit, HISTORY_PAGE))
            self.cursor = page[-1].id if len(page) >= max(limit, HISTORY_PAGE) else upto
            items = [Item(e, encode(e)) for e in page if self.wanted.matches(e)]
            if items:
                return items


class EventHub:
    """The process's one reader of the event stream and its clients.

    Args:
        settings: where the services are.
        max_behind: events a client may lag before it is dropped (:data:`MAX_BEHIND`).
        idle_after_s: how long the reader runs on without clients (:data:`IDLE_AFTER_S`).
        source: the engine's event source (tests pass one with other limits).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_behind: int = MAX_BEHIND,
        idle_after_s: float = IDLE_AFTER_S,
        source: EventSource | None = None,
    ) -> None:
        self.settings = settings
        self.max_behind = max_behind
        self.idle_after_s = idle_after_s
        self.source = source if source is not None else EventSource(settings)
        self.clients: set[Subscription] = set()
        """Clients following the live flow (not those still reading history)."""
        self.readers = 0
        """Streams open now (live or reading history)."""
        self._open: set[Subscription] = set()
        self.delivered = 0
        """Events the reader has handed out since the process started."""
        self._loop: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._exiting = False

    @property
    def active(self) -> bool:
        """True while the reader loop runs (between the first client and idling)."""
        return self._loop is not None and not self._loop.done()

    @property
    def settled(self) -> int:
        """Every event up to this id has gone to the live clients."""
        return self.source.settled

    async def position(self) -> int:
        """Where "from now" is: the id every later event will be above.

        A route calls this before it answers, so a client that sees the response start
        has its place fixed already; what happens before its subscription begins is
        then read from history, not lost.
        """
        if self._closed:
            raise StreamClosed("the server is shutting down")
        await self._ensure_running()
        return self.settled

    @contextlib.asynccontextmanager
    async def subscribe(
        self, after: int | None, wanted: EventFilter
    ) -> AsyncIterator[Subscription]:
        """A subscription from ``after`` (None: from now), ended when the block exits."""
        if self._closed:
            raise StreamClosed("the server is shutting down")
        self.readers += 1
        try:
            await self._ensure_running()
            sub = Subscription(self, self.settled if after is None else after, wanted)
            self._open.add(sub)
            try:
                yield sub
            finally:
                self._open.discard(sub)
                sub.end(StreamClosed("client left"))
        finally:
            self.readers -= 1

    def attach(self, sub: Subscription) -> None:
        """Put a caught-up client on the live flow (its cursor equals :attr:`settled`)."""
        sub.live = True
        if sub.closed is None:
            self.clients.add(sub)

    def detach(self, sub: Subscription) -> None:
        """Take a client off the live flow."""
        self.clients.discard(sub)

    async def close(self) -> None:
        """End every stream and stop the reader (server shutdown)."""
        self._closed = True
        for sub in list(self._open):  # live ones and those still reading history
            sub.end(StreamClosed("the server is shutting down"))
        await self._stop_loop()
        await self.source.close()

    async def _ensure_running(self) -> None:
        async with self._start_lock:
            if self._exiting and self._loop is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop  # it decided to idle: let it finish, then start afresh
                self._loop = None
            if not self.active:
                self._exiting = False
                await self.source.start()
                self._loop = asyncio.create_task(self._run(), name="events:reader")

    async def _stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        """Read, fan out, wait; stop once no client has been around for a while."""
        loop = asyncio.get_running_loop()
        idle_since: float | None = None
        try:
            while True:
                try:
                    events, more = await self.source.poll()
                except Exception as exc:  # database down: clients wait, the loop retries
                    log.warning("event stream: reading job_events failed: %s", exc)
                    await asyncio.sleep(RETRY_S)
                    continue
                if events:
                    self._fan_out([Item(e, encode(e)) for e in events])
                if self.readers:
                    idle_since = None
                elif idle_since is None:
                    idle_since = loop.time()
                elif loop.time() - idle_since >= self.idle_after_s:
                    self._exiting = True  # in the same step as the check: see _ensure_running
                    break
                if more:
                    continue
                await self.source.wait_for_news(self._interval(idle_since is not None))
        finally:
            await self.source.stop()

    def _interval(self, idle: bool) -> float:
        if idle:
            return min(self.idle_after_s, POLL_S)
        if self.source.waiting_for_gap:
            return POLL_GAP_S
        return POLL_S if self.source.subscribed.is_set() else POLL_NO_REDIS_S

    def _fan_out(self, items: list[Item]) -> None:
        self.delivered += len(items)
        for sub in list(self.clients):
            sub.offer(items)


def encode(e: TransitionEvent) -> str:
    """An event's JSON text (compact: it is sent to every client)."""
    return json.dumps(e.to_json(), separators=(",", ":"))
