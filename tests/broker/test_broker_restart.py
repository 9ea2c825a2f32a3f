"""A real broker restart (on a private node): consumers and subscribers come back alone."""

from __future__ import annotations

import asyncio

from engine.broker.consumer import Consumer
from engine.broker.control import ControlBus
from engine.broker.depth import delete_namespace
from engine.broker.messages import Delivery
from engine.broker.publisher import Publisher
from engine.errors import ServiceUnavailable
from engine.store.changes import Runnable
from localservices.rabbitmq import PrivateRabbitMQ
from tests.broker.conftest import WAIT_S, Collector, Space
from tests.support.private import private_rabbitmq, private_rabbitmq_session

__all__ = ["private_rabbitmq", "private_rabbitmq_session"]


async def test_work_and_commands_flow_again_after_the_broker_restarts(
    space: Space, private_rabbitmq: PrivateRabbitMQ
):
    settings = space.settings.evolve(amqp_url=private_rabbitmq.url)
    (queue,) = space.use("default")
    collector = Collector(ack=False)
    consumer = Consumer(settings, [queue], 10, collector)
    collector.consumer = consumer
    commands: list[dict] = []
    heard = asyncio.Event()

    async def on_command(command: dict) -> None:
        commands.append(command)
        heard.set()

    bus = ControlBus(settings)
    publisher = Publisher(settings)
    try:
        await consumer.start()
        await bus.subscribe(on_command)
        await publisher.publish([Runnable(1, 1, queue, 1)])
        (held,) = await collector.wait_for(1)  # held unacked across the restart

        await asyncio.to_thread(private_rabbitmq.restart, app_only=True)
        await asyncio.gather(consumer.wait_reconnects(1), bus.wait_reconnects(1))

        # The publisher learns of the restart on its next publish: that one may be
        # refused (nothing confirmed); the one after reconnects.
        try:
            await publisher.publish([Runnable(2, 1, queue, 1)])
        except ServiceUnavailable:
            await publisher.publish([Runnable(2, 1, queue, 1)])
        items = await collector.wait_for(3)
        await bus.publish({"cmd": "scale", "queue": queue, "workers": 2})
        async with asyncio.timeout(WAIT_S):
            await heard.wait()
        await consumer.ack([i.delivery_tag for i in items])
    finally:
        await consumer.stop()
        await bus.close()
        await publisher.close()
        await delete_namespace(settings, space.names, [queue])  # on the private node
    after = [(i.job_id, i.redelivered) for i in items[1:] if isinstance(i, Delivery)]
    assert sorted(after) == [(1, True), (2, False)], "the held message came back, the new arrived"
    assert isinstance(held, Delivery)
    assert commands == [{"cmd": "scale", "queue": queue, "workers": 2}]
