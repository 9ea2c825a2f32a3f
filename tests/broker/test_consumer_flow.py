"""Consumer flow control: pausing for a drain, batches that fail, queues that vanish."""

from __future__ import annotations

from engine.broker.admin import admin_connection
from engine.broker.consumer import Consumer
from engine.broker.depth import DepthProbe
from engine.broker.messages import Delivery, Garbage
from engine.broker.publisher import Publisher
from engine.store.changes import Runnable
from tests.broker.conftest import Collector, Space


async def test_a_paused_consumer_leaves_new_work_to_others_until_resumed(space: Space):
    (queue,) = space.use("default")
    collector = Collector()
    consumer = Consumer(space.settings, [queue], 10, collector)
    collector.consumer = consumer
    publisher = Publisher(space.settings)
    probe = DepthProbe(space.settings, use_management=False)
    await consumer.start()
    try:
        await consumer.pause()
        assert consumer.paused
        await publisher.publish([Runnable(i, 1, queue, 1) for i in range(1, 4)])
        paused = (await probe.depths([queue]))[queue]
        assert (paused.ready, paused.consumers) == (3, 0), "nothing was delivered while paused"
        await consumer.resume()
        items = await collector.wait_for(3)
    finally:
        await consumer.stop()
        await publisher.close()
        await probe.close()
    assert sorted(i.job_id for i in items if isinstance(i, Delivery)) == [1, 2, 3]


async def test_a_batch_whose_handler_raises_goes_back_to_the_queue(space: Space):
    (queue,) = space.use("default")
    collector = Collector()
    failed_once: list[list[Delivery | Garbage]] = []

    async def on_batch(batch: list[Delivery | Garbage]) -> None:
        if not failed_once:
            failed_once.append(batch)
            raise RuntimeError("the database blinked")
        await collector(batch)

    consumer = Consumer(space.settings, [queue], 10, on_batch)
    collector.consumer = consumer
    publisher = Publisher(space.settings)
    await consumer.start()
    try:
        await publisher.publish([Runnable(1, 1, queue, 1)])
        items = await collector.wait_for(1)
    finally:
        await consumer.stop()
        await publisher.close()
    assert [i.job_id for i in failed_once[0]] == [1]
    assert [(i.job_id, i.redelivered) for i in items] == [(1, True)]


async def test_a_queue_deleted_under_a_consumer_is_declared_again(space: Space):
    (queue,) = space.use("default")
    collector = Collector()
    consumer = Consumer(space.settings, [queue], 10, collector)
    collector.consumer = consumer
    publisher = Publisher(space.settings)
    await consumer.start()
    try:
        async with admin_connection(space.settings) as connection:
            channel = await connection.channel()
            await channel.queue_delete(space.names.queue(queue))
            await channel.close()
        # The broker cancels the consumer; it reconnects and declares the queue again,
        # and a publish that finds no queue meanwhile is returned and republished.
        await consumer.wait_reconnects(1)
        await publisher.publish([Runnable(5, 1, queue, 1)])
        items = await collector.wait_for(1)
    finally:
        await consumer.stop()
        await publisher.close()
    assert [i.job_id for i in items] == [5]
