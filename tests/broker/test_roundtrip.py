"""Publishing with confirms and consuming in batches: nothing lost, order by priority."""

from __future__ import annotations

import asyncio
import json

from pika.spec import BasicProperties

from engine.broker.consumer import Consumer
from engine.broker.depth import queue_depths
from engine.broker.messages import Delivery, Garbage
from engine.broker.publisher import Publisher
from engine.priority import Priority
from engine.states import State
from engine.store.changes import ChangeSet, Runnable, Transition
from tests.broker.conftest import Collector, Space, publish_raw


async def test_five_thousand_published_with_confirms_are_all_consumed(space: Space):
    (queue,) = space.use("default")
    runnables = [Runnable(i, 1, queue, i % 4) for i in range(1, 5001)]
    publisher = Publisher(space.settings)
    try:
        await publisher.publish(runnables)
    finally:
        await publisher.close()
    depths = await queue_depths(space.settings, [queue])
    assert depths[queue].ready == 5000

    collector = Collector()
    consumer = Consumer(space.settings, [queue], 100, collector)
    collector.consumer = consumer
    await consumer.start()
    try:
        items = await collector.wait_for(5000)
    finally:
        await consumer.stop()
    assert all(isinstance(i, Delivery) for i in items)
    assert sorted((i.job_id, i.attempt) for i in items) == [(i, 1) for i in range(1, 5001)]
    assert max(len(b) for b in collector.batches) > 1, "deliveries should arrive in batches"
    assert max(len(b) for b in collector.batches) <= 100
    after = await queue_depths(space.settings, [queue])
    assert after[queue].ready == 0, "everything was acked, nothing came back"


async def test_concurrent_publishers_on_one_publisher_each_get_their_confirms(space: Space):
    queues = space.use("a", "b", "c")
    publisher = Publisher(space.settings, max_in_flight=50)  # small window: callers interleave
    try:
        await asyncio.gather(
            *(
                publisher.publish([Runnable(n * 1000 + i, 1, q, 1) for i in range(300)])
                for n, q in enumerate(queues)
            )
        )
    finally:
        await publisher.close()
    depths = await queue_depths(space.settings, queues)
    assert {q: d.ready for q, d in depths.items()} == {"a": 300, "b": 300, "c": 300}


async def test_the_message_is_id_and_attempt_persistent_with_its_priority(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    try:
        await publisher.publish([Runnable(42, 3, queue, int(Priority.HIGH))])
    finally:
        await publisher.close()
    got = await _get_raw(space, space.names.queue(queue))
    properties, body = got
    assert body == b'{"id":42,"attempt":3}'
    assert json.loads(body) == {"id": 42, "attempt": 3}
    assert properties.delivery_mode == 2
    assert properties.priority == int(Priority.HIGH)
    assert properties.content_type == "application/json"
    assert properties.message_id == "42:3"


async def test_critical_jobs_overtake_low_ones_waiting_in_the_queue(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    try:
        await publisher.publish([Runnable(i, 1, queue, int(Priority.LOW)) for i in range(1, 6)])
        await publisher.publish(
            [Runnable(i, 1, queue, int(Priority.CRITICAL)) for i in range(6, 11)]
        )
    finally:
        await publisher.close()
    collector = Collector()
    consumer = Consumer(space.settings, [queue], 1, collector)
    collector.consumer = consumer
    await consumer.start()
    try:
        items = await collector.wait_for(10)
    finally:
        await consumer.stop()
    assert [i.job_id for i in items[:5]] == [6, 7, 8, 9, 10]
    assert [i.job_id for i in items[5:]] == [1, 2, 3, 4, 5]


async def test_bodies_that_are_not_work_messages_become_garbage_and_are_acked(space: Space):
    (queue,) = space.use("default")
    bodies = [
        b"not json at all",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'{"id": "7", "attempt": 1}',
        b'{"id": 7}',
        b'{"id": true, "attempt": 1}',
        b'{"id": 7, "attempt": -1}',
        b"",
        b'{"id": 7, "attempt": 2}',  # the one good message
    ]
    collector = Collector()
    consumer = Consumer(space.settings, [queue], 20, collector)
    collector.consumer = consumer
    await consumer.start()  # declares the queue
    try:
        await asyncio.to_thread(publish_raw, space.settings, space.names.queue(queue), bodies)
        items = await collector.wait_for(len(bodies))
    finally:
        await consumer.stop()
    garbage = [i for i in items if isinstance(i, Garbage)]
    deliveries = [i for i in items if isinstance(i, Delivery)]
    assert [(d.job_id, d.attempt) for d in deliveries] == [(7, 2)]
    assert len(garbage) == len(bodies) - 1
    assert {g.queue for g in garbage} == {queue}
    reasons = {g.excerpt: g.reason for g in garbage}
    assert reasons["not json at all"].startswith("not JSON")
    assert "object" in reasons["[1, 2]"]
    assert '"id"' in reasons['{"id": "7", "attempt": 1}']
    assert '"attempt"' in reasons['{"id": 7}']
    depths = await queue_depths(space.settings, [queue])
    assert depths[queue].ready == 0, "garbage was acked, not redelivered"


async def test_dead_letter_copies_carry_the_job_in_headers(space: Space):
    failed = Transition(
        job_id=9,
        queue="emails",
        type="send_email",
        from_state=State.RUNNING,
        to_state=State.FAILED,
        attempt=4,
        reason="SMTPError: 550",
    )
    publisher = Publisher(space.settings)
    try:
        await publisher.after_commit(ChangeSet(dead_letters=[failed]))
    finally:
        await publisher.close()
    properties, body = await _get_raw(space, space.names.dead_letter_queue)
    assert json.loads(body) == {"id": 9, "attempt": 4}
    assert properties.headers == {
        "job_id": 9,
        "attempt": 4,
        "queue": "emails",
        "type": "send_email",
        "reason": "SMTPError: 550",
    }


async def test_a_queue_deleted_under_a_publisher_is_declared_again(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    try:
        await publisher.publish([Runnable(1, 1, queue, 1)])
        from engine.broker.admin import admin_connection

        async with admin_connection(space.settings) as connection:
            channel = await connection.channel()
            await channel.queue_delete(space.names.queue(queue))
            await channel.close()
        # The publisher still believes the queue exists; the broker returns the message
        # as unroutable, and the publisher declares the queue and publishes it again.
        await publisher.publish([Runnable(2, 1, queue, 1)])
    finally:
        await publisher.close()
    depths = await queue_depths(space.settings, [queue])
    assert depths[queue].ready == 1


async def _get_raw(space: Space, broker_queue: str) -> tuple[BasicProperties, bytes]:
    """One message taken off a queue with basic.get (and acked)."""
    from engine.broker.admin import admin_connection

    async with admin_connection(space.settings) as connection:
        channel = await connection.channel()
        got: asyncio.Future[tuple[BasicProperties, bytes]] = (
            asyncio.get_running_loop().create_future()
        )

        def on_get(_ch, method, properties, body):
            channel.raw.basic_ack(method.delivery_tag)
            got.set_result((properties, body))

        channel.raw.basic_get(broker_queue, on_get)
        async with asyncio.timeout(30):
            result = await got
        await channel.close()
        return result
