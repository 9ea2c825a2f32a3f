"""A listener's stop must return even when redis-py's pub/sub teardown does not."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from engine.status.pubsub import close_pubsub


class StuckTeardown:
    """Stands in for a pub/sub handle whose teardown waits forever (as redis-py's
    shielded, uncancellable one can); only ``aclose`` is called."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.closed = False

    async def aclose(self) -> None:
        await self.release.wait()
        self.closed = True


async def test_a_cancelled_listener_finishes_though_the_teardown_hangs():
    handle = StuckTeardown()

    async def listener() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await close_pubsub(cast(Any, handle), wait_s=0.05)

    task = asyncio.create_task(listener())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=30)
    assert task.done(), "stop would never return"
    assert task.cancelled()
    handle.release.set()  # the teardown still finishes by itself afterwards
    for _ in range(100):
        if handle.closed:
            break
        await asyncio.sleep(0.01)
    assert handle.closed
