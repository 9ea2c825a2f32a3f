"""Closing a Redis pub/sub handle without letting it hold up whoever stops.

redis-py (8.x) shields a pub/sub's teardown from cancellation and waits for it
even when the caller is cancelled, so a teardown stuck on the handle's lock
leaves a cancelled listener task that never finishes, and a ``stop()`` that
awaits that task never returns. This was seen once in CI: a metrics exporter's
stop hung with nothing scheduled on the loop. Closing here waits a bounded time
in a task of its own and then leaves the teardown to finish by itself.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 1.0  # seconds a listener waits for its pub/sub handle to close


async def close_pubsub(pubsub: PubSub, wait_s: float = CLOSE_WAIT_S) -> None:
    """Close ``pubsub``, waiting at most ``wait_s``; never raises."""
    closing = asyncio.ensure_future(pubsub.aclose())
    closing.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({closing}, timeout=wait_s)
    if not done:
        log.warning("a Redis pub/sub handle did not close within %.0f s; left to close", wait_s)


def _retrieve(task: asyncio.Future[None]) -> None:
    """Read the teardown's outcome so a failure is logged once, not as never retrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("closing a Redis pub/sub handle failed: %s", task.exception())
