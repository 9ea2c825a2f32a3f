"""The broker going away: consumers come back by themselves, publishers fail politely."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from engine.broker.connection import connect
from engine.broker.consumer import Consumer
from engine.broker.depth import queue_depths
from engine.broker.messages import Delivery
from engine.broker.publisher import Publisher
from engine.config import Settings
from engine.errors import ServiceUnavailable
from engine.store.changes import ChangeSet, Runnable
from tests.broker.conftest import Collector, Space, close_connections_named, needs_rabbitmqctl
from tests.support.services import free_port


@needs_rabbitmqctl
async def test_a_consumer_survives_the_broker_closing_its_connection(space: Space):
    (queue,) = space.use("default")
    publisher = Publisher(space.settings)
    collector = Collector(ack=False)
    name = space.connection_name("consumer")
    consumer = Consumer(space.settings, [queue], 10, collector, name=name)
    collector.consumer = consumer
    await consumer.start()
    try:
        await publisher.publish([Runnable(1, 1, queue, 1), Runnable(2, 1, queue, 1)])
        first = await collector.wait_for(2)
        await consumer.ack([first[0].delivery_tag])  # job 1 done; job 2 held, unacked
        assert consumer.connected and consumer.reconnects == 0

        closed = await asyncio.to_thread(close_connections_named, name)
        assert closed == 1

        # What the dead channel held unacked comes back, flagged as redelivered; work
        # published afterwards arrives on the new connection.
        await publisher.publish([Runnable(3, 1, queue, 1)])
        items = await collector.wait_for(4)
        again = [i for i in items[2:] if isinstance(i, Delivery)]
        assert sorted((i.job_id, i.redelivered) for i in again) == [(2, True), (3, False)]
        assert consumer.connected and consumer.reconnects == 1

        # Acking the tag from the dead channel must not ack (or break) anything.
        await consumer.ack([first[1].delivery_tag])
        await consumer.ack([i.delivery_tag for i in again])
    finally:
        await consumer.stop()
        await publisher.close()
    depths = await queue_depths(space.settings, [queue])
    assert depths[queue].ready == 0, "the acks on the new channel took effect"


@needs_rabbitmqctl
async def test_a_publisher_reconnects_on_the_next_publish_after_losing_its_connection(
    space: Space,
):
    (queue,) = space.use("default")
    name = space.connection_name("publisher")
    publisher = Publisher(space.settings, name=name)
    try:
        await publisher.publish([Runnable(1, 1, queue, 1)])
        assert await asyncio.to_thread(close_connections_named, name) == 1
        # The close reaches the client asynchronously: a publish racing it is refused
        # (its caller learns nothing was confirmed); the next one reconnects.
        refused = 0
        while True:
            try:
                await publisher.publish([Runnable(2, 1, queue, 1)])
                break
            except ServiceUnavailable:
                refused += 1
                assert refused == 1, "only a publish racing the close may be refused"
    finally:
        await publisher.close()
    depths = await queue_depths(space.settings, [queue])
    assert depths[queue].ready == 2


async def test_after_commit_with_the_broker_unreachable_logs_and_returns(
    space: Space, caplog: pytest.LogCaptureFixture
):
    unreachable = space.settings.evolve(
        amqp_url=f"amqp://guest:s3cret-pw@127.0.0.1:{free_port()}/%2F"
    )
    publisher = Publisher(unreachable)
    changes = ChangeSet(runnables=[Runnable(1, 1, "default", 1)])
    with caplog.at_level(logging.WARNING, logger="engine.broker"):
        await publisher.after_commit(changes)  # must not raise
        await publisher.after_commit(changes)  # fails fast during the backoff; still quiet
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage, not one per commit"
    assert "reconciler" in warnings[0].getMessage()
    assert "s3cret-pw" not in caplog.text

    with pytest.raises(ServiceUnavailable) as refused:
        await publisher.publish(changes.runnables)
    assert refused.value.service == "RabbitMQ"
    assert "s3cret-pw" not in str(refused.value)
    assert "***" in str(refused.value)
    await publisher.close()


async def test_a_server_that_never_speaks_amqp_is_given_up_on():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts the TCP connection; nobody ever answers
        settings = Settings(amqp_url=f"amqp://guest:guest@127.0.0.1:{silent.getsockname()[1]}/")
        with pytest.raises(ServiceUnavailable) as refused:
            await connect(settings, "silent", timeout_s=1.0)
    assert "no answer in time" in str(refused.value)


async def test_wrong_credentials_are_reported_without_the_password(space: Space):
    wrong = space.settings.evolve(amqp_url="amqp://guest:not-the-password@127.0.0.1:5672/%2F")
    with pytest.raises(ServiceUnavailable) as refused:
        await connect(wrong, space.connection_name("wrong"))
    message = str(refused.value)
    assert "not-the-password" not in message
    assert "authentication" in message or "ACCESS_REFUSED" in message


async def test_a_consumer_that_cannot_connect_says_so(space: Space):
    unreachable = space.settings.evolve(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    consumer = Consumer(unreachable, ["default"], 10, Collector())
    with pytest.raises(ServiceUnavailable):
        await consumer.start()
    assert not consumer.connected
    await consumer.stop()
