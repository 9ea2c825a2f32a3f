"""The live event stream's source: ``job_events`` read in order, woken by Redis.

PostgreSQL is the truth: every event is read from ``job_events`` by id, so a
reader can resume from any id and miss nothing. Redis is only the doorbell: the
status cache publishes each batch of transitions on ``{ns}:events`` after its
commit, and a message makes the reader look at once instead of at its next
poll. When Redis is down (or a publish is lost) the reader still finds every
event on its poll, only later.

One :class:`EventSource` is meant to serve a whole process: one query loop
however many clients follow the stream (see ``queueconsole.api.events``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from engine.config import Settings
from engine.db.driver import DriverDatabase
from engine.queries.events import EVENT_LAST_ID, EVENT_LIST_AFTER, EVENT_LIST_RANGE
from engine.readapi.event_order import GAP_GIVE_UP_S, EventOrder
from engine.snapshots.transitions import TransitionEvent
from engine.states import State
from engine.status.cache import StatusCache
from engine.status.pubsub import close_pubsub

log = logging.getLogger(__name__)

READ_BATCH = 5000  # events per read of the stream's tail
START_LOOKBACK = 1000  # ids below the newest at start that are checked for late commits
RESUBSCRIBE_S = 1.0  # seconds between attempts to subscribe to Redis while it is down
LISTEN_TIMEOUT_S = 1.0  # seconds one wait for a pub/sub message lasts


class EventSource:
    """Events of ``job_events`` in id order, each once, with a Redis wake-up.

    Args:
        settings: where the services are.
        application_name: what PostgreSQL shows for the source's connections.
        give_up_s: how long a missing id may hold the stream back without proof
            that it will never commit (see :mod:`engine.readapi.event_order`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        application_name: str = "queueconsole-events",
        give_up_s: float = GAP_GIVE_UP_S,
    ) -> None:
        self.settings = settings
        # The stream's statements are index range scans whatever the table's size, so
        # PostgreSQL may keep a generic plan: re-planning every poll cost a third of it.
        self._db = DriverDatabase(
            settings, pool_size=2, application_name=application_name, plan_cache_mode="auto"
        )
        self._cache = StatusCache(settings)
        self._give_up_s = give_up_s
        self._order: EventOrder | None = None
        self._news = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        """Set while the Redis channel is subscribed (tests and the poll interval use it)."""

    @property
    def settled(self) -> int:
        """Every event up to this id has been returned by :meth:`poll` (or never commits)."""
        if self._order is None:
            raise RuntimeError("start() first")
        return self._order.settled

    @property
    def waiting_for_gap(self) -> bool:
        """True while an id that may still commit holds later events back."""
        return self._order is not None and bool(self._order.gaps)

    @property
    def skipped(self) -> int:
        """Ids given up on without proof that they will never commit (see
        :data:`~engine.readapi.event_order.GAP_GIVE_UP_S`)."""
        return self._order.skipped if self._order is not None else 0

    async def start(self) -> None:
        """Begin at the newest event (checking the last few ids for late commits) and
        subscribe to the Redis channel."""
        last = int(await self._db.run_single(lambda c: c.scalar(EVENT_LAST_ID)))
        self._order = EventOrder(max(0, last - START_LOOKBACK), give_up_s=self._give_up_s)
        # What is already visible up to `last` is history, not news: absorb it quietly.
        while self._order.read_upto < last:
            _, more = await self._read()
            if not more:
                break
        self._news.clear()
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="events:redis")

    async def stop(self) -> None:
        """Unsubscribe from Redis (the next :meth:`start` begins afresh)."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self.subscribed.clear()
        self._order = None

    async def close(self) -> None:
        """Stop, and close the connections."""
        await self.stop()
        try:
            await self._cache.close()
        finally:
            await self._db.close()

    async def poll(self) -> tuple[list[TransitionEvent], bool]:
        """The events that became ready since the last call, in id order, and whether
        more are waiting to be read right away."""
        self._news.clear()
        return await self._read()

    async def _read(self) -> tuple[list[TransitionEvent], bool]:
        order = self._order
        if order is None:
            raise RuntimeError("start() first")
        los, his = order.gap_ranges()
        params = {"after": order.read_upto, "limit": READ_BATCH, "los": los, "his": his}
        rows = await self._db.run_single(lambda c: c.execute(EVENT_LIST_AFTER, params))
        events = [_event(r) for r in rows if r.id is not None]
        tail = sum(1 for e in events if e.id > order.read_upto)
        first = rows[0]
        running = frozenset(int(x) for x in first.running)
        ready = order.absorb(events, running, time.monotonic())
        return ready, tail >= READ_BATCH

    async def history(self, after: int, upto: int, limit: int) -> list[TransitionEvent]:
        """Events with ``after < id <= upto``, in id order, at most ``limit``: for a
        client that resumes (ids up to :attr:`settled` are final)."""
        params = {"after": after, "upto": upto, "limit": limit}
        rows = await self._db.run_single(lambda c: c.execute(EVENT_LIST_RANGE, params))
        return [_event(r) for r in rows]

    async def wait_for_news(self, timeout_s: float) -> None:
        """Return when Redis announces new events, or after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._news.wait()

    async def _listen(self) -> None:
        channel = self._cache.keys.events_channel
        while True:
            pubsub = self._cache.pubsub()
            try:
                await pubsub.subscribe(channel)
                self.subscribed.set()
                self._news.set()  # anything published while unsubscribed was missed
                while True:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_S)
                    if message is not None and message.get("type") == "message":
                        self._news.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: polling carries the stream
                log.debug("event stream: Redis channel lost: %s", exc)
            finally:
                self.subscribed.clear()
                await close_pubsub(pubsub)
            await asyncio.sleep(RESUBSCRIBE_S)


def _event(r: Any) -> TransitionEvent:
    return TransitionEvent(
        id=int(r.id),
        job_id=int(r.job_id),
        from_state=State(r.from_state) if r.from_state else None,
        to_state=State(r.to_state),
        at=r.at,
        reason=r.reason,
        queue=r.queue,
        type=r.type,
        workflow_id=r.workflow_id,
        attempt=int(r.attempt),
        worker_id=r.worker_id,
        tenant=r.tenant,
    )
