"""With quorum queues, priorities are one queue per level; the order is classic's."""

from __future__ import annotations

import pytest

from engine.broker.admin import admin_connection
from engine.broker.consumer import Consumer
from engine.broker.depth import DepthProbe
from engine.broker.publisher import Publisher
from engine.priority import Priority
from engine.store.changes import Runnable
from tests.broker.conftest import Collector, Space


async def _publish(space: Space, *groups: list[Runnable]) -> None:
    publisher = Publisher(space.settings)
    try:
        for group in groups:
            await publisher.publish(group)
    finally:
        await publisher.close()


async def _consume(space: Space, queue: str, count: int, prefetch: int) -> list[int]:
    collector = Collector()
    consumer = Consumer(space.settings, [queue], prefetch, collector)
    collector.consumer = consumer
    await consumer.start()
    try:
        items = await collector.wait_for(count)
    finally:
        await consumer.stop()
    assert len(items) == count, "nothing arrives twice"
    return [item.job_id for item in items]  # type: ignore[union-attr]


async def test_critical_jobs_overtake_low_ones_waiting_in_the_queue(typed: Space):
    (queue,) = typed.use("default")
    await _publish(
        typed,
        [Runnable(i, 1, queue, int(Priority.LOW)) for i in range(1, 6)],
        [Runnable(i, 1, queue, int(Priority.CRITICAL)) for i in range(6, 11)],
    )
    assert await _consume(typed, queue, 10, prefetch=1) == [6, 7, 8, 9, 10, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_a_mixed_backlog_runs_highest_first_then_oldest_first(typed: Space, prefetch: int):
    (queue,) = typed.use("default")
    # Priorities in an irregular pattern, published in several confirmed rounds.
    priorities = [(i * 7 + i // 5) % 4 for i in range(48)]
    runnables = [Runnable(i + 1, 1, queue, p) for i, p in enumerate(priorities)]
    await _publish(typed, runnables[:20], runnables[20:35], runnables[35:])
    expected = [r.job_id for r in sorted(runnables, key=lambda r: -r.priority)]
    assert await _consume(typed, queue, 48, prefetch) == expected


async def test_quorum_levels_are_separate_quorum_queues_bound_by_level(quorum: Space):
    (queue,) = quorum.use("default")
    await _publish(quorum, [Runnable(i + 1, 1, queue, i % 4) for i in range(8)])
    names = quorum.names
    assert names.broker_queues(queue) == [
        f"{quorum.settings.namespace}.q.default",
        f"{quorum.settings.namespace}.q.default.p2",
        f"{quorum.settings.namespace}.q.default.p1",
        f"{quorum.settings.namespace}.q.default.p0",
    ]
    async with admin_connection(quorum.settings) as connection:
        for name in names.broker_queues(queue):
            channel = await connection.channel()
            # Declaring as quorum again is accepted only if it is a quorum queue.
            declared = await channel.queue_declare(
                name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            assert declared.method.message_count == 2
            await channel.close()


async def test_a_limit_below_the_prefetch_works_on_quorum_queues(quorum: Space):
    (queue,) = quorum.use("default")
    await _publish(quorum, [Runnable(i, 1, queue, i % 4) for i in range(1, 41)])
    collector = Collector()
    # Quorum queues refuse consumers on a channel with a channel-wide (global) limit.
    consumer = Consumer(quorum.settings, [queue], 10, collector, limit=3)
    collector.consumer = consumer
    await consumer.start()
    try:
        await collector.wait_for(1)
        await consumer.set_limit(2)
        items = await collector.wait_for(40)
        assert consumer.connected and consumer.reconnects == 0, "the channel was not closed"
    finally:
        await consumer.stop()
    assert sorted(i.job_id for i in items) == list(range(1, 41))  # type: ignore[union-attr]


async def test_quorum_depth_adds_up_the_levels_and_counts_the_consumers(quorum: Space):
    (queue,) = quorum.use("default")
    await _publish(quorum, [Runnable(i, 1, queue, i % 4) for i in range(1, 10)])
    probe = DepthProbe(quorum.settings, use_management=False)
    try:
        before = (await probe.depths([queue]))[queue]
        consumer = Consumer(quorum.settings, [queue], 1, Collector(ack=False))
        await consumer.start()
        try:
            during = (await probe.depths([queue]))[queue]
        finally:
            await consumer.stop()
    finally:
        await probe.close()
    assert (before.ready, before.consumers) == (9, 0)
    # At least the worker's top-level consumer (a quorum queue also counts a basic.get).
    assert during.consumers is not None and during.consumers >= 1
