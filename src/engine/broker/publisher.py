"""Publishing runnable jobs after commit, with confirms; dead-letter copies.

The database is the truth: a job reaches RabbitMQ only after the transaction
that made it runnable committed, and a publish that fails (broker down, nack,
lost connection) is only logged by :meth:`Publisher.after_commit`; the
reconciler finds the runnable row nobody claimed and publishes it again.
So this class is at-least-once and never blocks a commit for long: after a
failed connect it fails fast until a backoff runs out instead of trying (and
waiting up to the connect timeout) on every commit.

A big submission's messages (:data:`BACKGROUND_MIN` runnable jobs or more) are
published and confirmed in the background: its caller learns nothing from
waiting (a failed publish is only logged either way) but would wait at the
broker's persistent-message rate, several seconds per 100,000 jobs, although
the jobs are safe in PostgreSQL from the commit on. :meth:`Publisher.close`
waits for them (see :meth:`Publisher.wait_published`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from pika.spec import BasicProperties

from engine.broker.confirms import MAX_IN_FLIGHT, ConfirmedChannel, Outgoing
from engine.broker.connection import SERVICE, ChannelLost, default_name
from engine.broker.dead_queue import copy_headers, dead_letter_arguments, ensure_exists
from engine.broker.messages import CONTENT_TYPE, PERSISTENT, message_id, work_body
from engine.broker.names import Names
from engine.broker.outbound import OutboundLink
from engine.broker.topology import QueueTypeMismatch, declare_queues
from engine.config import Settings, mask_url
from engine.errors import ServiceUnavailable
from engine.store.changes import ChangeSet, Runnable, Transition

log = logging.getLogger(__name__)

OUTAGE_LOG_INTERVAL_S = 60.0  # seconds between repeated warnings during one outage
MAX_RETURNED_IDS = 100_000  # returned-message ids remembered before giving up on them
RETURN_RETRIES = 1  # times unroutable messages are republished after re-declaring
BACKGROUND_MIN = 1000  # runnable jobs in one change set from which they publish in background
CLOSE_WAIT_S = 60.0  # seconds close() waits for background publishes before giving up


class Publisher:
    """Confirmed publishing to the work and dead-letter exchanges of one namespace.

    Safe to use from many tasks on one loop: their messages share one
    confirm channel and each call waits only for its own confirms.
    """

    def __init__(
        self, settings: Settings, *, name: str | None = None, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self.settings = settings
        self.names = Names.of(settings)
        self.name = name or default_name(settings, "publisher")
        self._link = OutboundLink(
            settings, self.name, max_in_flight, on_new_channel=self._forget_topology
        )
        self._declared: set[str] = set()
        """Routing keys whose queues this channel declared (every level of their queue)."""
        self._queue_of: dict[str, str] = {}
        """The engine queue of each routing key seen (quorum: one key per level)."""
        self._dead_letter_declared = False
        self._outage_started: float | None = None
        self._outage_warned_at = 0.0
        self._outage_skipped = 0
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect now rather than on the first publish; raises ServiceUnavailable."""
        self._link.retry_now()
        await self._link.channel()

    async def publish(self, runnables: Sequence[Runnable]) -> None:
        """Publish one persistent message per runnable job; return once all are confirmed.

        Raises :class:`~engine.errors.ServiceUnavailable` when the broker is
        unreachable, nacks a message, or the connection is lost before every
        confirm arrived (some messages may then have been delivered: duplicates
        are harmless, the claim is fenced by the attempt).
        """
        if not runnables:
            return
        exchange = self.names.work_exchange
        routing_key = self.names.routing_key
        messages = [
            Outgoing(
                exchange,
                routing_key(r.queue, r.priority),
                work_body(r.job_id, r.attempt),
                BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=PERSISTENT,
                    priority=r.priority,
                    message_id=message_id(r.job_id, r.attempt),
                ),
            )
            for r in runnables
        ]
        for r in runnables:
            self._queue_of.setdefault(routing_key(r.queue, r.priority), r.queue)
        await self._send(messages, self._declare_work)

    async def dead_letter(self, transitions: Sequence[Transition]) -> None:
        """Publish a copy of each dead job's message to the dead-letter exchange.

        The body is the job's work message; headers say which job, attempt,
        queue and type, when it failed and why, so an operator reading the
        dead-letter queue needs no database to know what it holds. A missing
        queue is declared with the configured bounds; one that exists is used
        as it is (the engine's dead-letter service applies changed bounds).
        """
        if not transitions:
            return
        exchange = self.names.dead_letter_exchange
        messages = [
            Outgoing(
                exchange,
                t.queue,
                work_body(t.job_id, t.attempt),
                BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=PERSISTENT,
                    message_id=message_id(t.job_id, t.attempt),
                    headers=copy_headers(
                        t.job_id, t.attempt, t.queue, t.type, t.reason or "", t.finished_at
                    ),
                ),
            )
            for t in transitions
        ]
        await self._send(messages, self._declare_dead_letter)

    async def after_commit(self, changes: ChangeSet) -> None:
        """The after-commit hook: publish runnable jobs, then dead-letter copies.

        Never raises for the broker being unavailable: it logs a warning (once
        per outage, then at most every minute) and returns. From
        :data:`BACKGROUND_MIN` runnable jobs on, returns before their confirms.
        """
        runnables: Sequence[Runnable] = changes.runnables
        if len(runnables) >= BACKGROUND_MIN:
            task = asyncio.create_task(
                self._publish_logged(list(runnables), ()), name="publisher:background"
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            runnables = ()
        await self._publish_logged(runnables, changes.dead_letters)

    async def wait_published(self, timeout_s: float | None = None) -> None:
        """Return once every background publish started so far has ended (or timed out)."""
        pending = set(self._background)
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    async def _publish_logged(
        self, runnables: Sequence[Runnable], dead_letters: Sequence[Transition]
    ) -> None:
        failures: list[str] = []
        skipped = 0
        if runnables:
            try:
                await self.publish(runnables)
            except ServiceUnavailable as exc:
                failures.append(f"{len(runnables)} runnable job(s): {exc.reason}")
                skipped += len(runnables)
            except QueueTypeMismatch as exc:  # the engine's start-up check names it too
                failures.append(f"{len(runnables)} runnable job(s): {exc}")
                skipped += len(runnables)
        if dead_letters:
            try:
                await self.dead_letter(dead_letters)
            except ServiceUnavailable as exc:
                failures.append(f"{len(dead_letters)} dead-letter copies: {exc.reason}")
                skipped += len(dead_letters)
        if failures:
            self._note_outage(skipped, "; ".join(failures))
        elif self._outage_started is not None and (runnables or dead_letters):
            log.info(
                "%s reachable again at %s; %d message(s) went unpublished meanwhile "
                "(the reconciler republishes runnable jobs)",
                SERVICE,
                mask_url(self.settings.amqp_url),
                self._outage_skipped,
            )
            self._outage_started = None
            self._outage_skipped = 0

    async def close(self) -> None:
        """Wait for background publishes (up to :data:`CLOSE_WAIT_S`), then close the
        connection; later publishes raise ServiceUnavailable. What a background publish
        had not sent by then, the reconciler publishes."""
        await self.wait_published(CLOSE_WAIT_S)
        for task in list(self._background):
            task.cancel()
        await self._link.close()

    def _note_outage(self, skipped: int, detail: str) -> None:
        now = time.monotonic()
        self._outage_skipped += skipped
        if self._outage_started is None or now - self._outage_warned_at >= OUTAGE_LOG_INTERVAL_S:
            first = self._outage_started is None
            self._outage_started = self._outage_started or now
            self._outage_warned_at = now
            log.warning(
                "could not publish after commit%s: %s; the database keeps the jobs and the "
                "reconciler republishes them%s",
                "" if first else " (still)",
                detail,
                "" if first else f" ({self._outage_skipped} message(s) unpublished so far)",
            )

    async def _send(
        self,
        messages: list[Outgoing],
        declare: Callable[[ConfirmedChannel, list[Outgoing]], Awaitable[None]],
    ) -> None:
        """Declare what the messages need, send them, and republish any the broker
        returned as unroutable (a queue deleted under us) after declaring again."""
        for _ in range(1 + RETURN_RETRIES):
            channel = await self._link.channel()
            await self._guard(channel, declare(channel, messages))
            await channel.send(messages)
            if not channel.returned:
                return
            returned = [m for m in messages if m.properties.message_id in channel.returned]
            channel.returned.difference_update(m.properties.message_id for m in returned)
            if len(channel.returned) > MAX_RETURNED_IDS:
                channel.returned.clear()  # left by callers cancelled before they looked
            if not returned:
                return
            self._declared.difference_update(m.routing_key for m in returned)
            self._dead_letter_declared = False
            messages = returned
        raise self._link.unavailable(f"{len(messages)} message(s) could not be routed to any queue")

    async def _declare_work(self, channel: ConfirmedChannel, messages: list[Outgoing]) -> None:
        missing = {m.routing_key for m in messages} - self._declared
        if missing:
            queues = sorted({self._queue_of[key] for key in missing})
            await declare_queues(channel.channel, self.names, queues)
            if channel.is_open:
                self._declared |= {
                    self.names.routing_key(q, level)
                    for q in queues
                    for level in self.names.levels()
                }

    async def _declare_dead_letter(self, channel: ConfirmedChannel, _: list[Outgoing]) -> None:
        if not self._dead_letter_declared:
            # On channels of their own: a refusal must not close the confirm channel.
            await ensure_exists(
                channel.connection, self.names, dead_letter_arguments(self.settings)
            )
            self._dead_letter_declared = channel.is_open

    async def _guard(self, channel: ConfirmedChannel, work: Awaitable[None]) -> None:
        """Run a declaration, turning a lost channel into ServiceUnavailable."""
        try:
            await work
        except ChannelLost as exc:
            raise channel.connection.unavailable(exc.reason) from None

    def _forget_topology(self) -> None:
        """A new channel may be on a new (or reset) broker: declare again on first use."""
        self._declared.clear()
        self._dead_letter_declared = False
