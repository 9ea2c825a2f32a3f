"""A private RabbitMQ node: isolated from the machine's node, durable across restarts.

One node serves the whole session (booting one takes seconds); tests that
stop or kill it start it again before they end.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pika
import pika.exceptions
import pytest

from localservices import LocalServiceError, PrivateRabbitMQ
from localservices.binaries import RabbitMQBinaries, find_epmd
from tests.support.private import (
    SESSION_CONSUMER_TIMEOUT_MS,
    listening_addresses,
    processes_of,
    shared_epmd_names,
    shared_services_answer,
    state_dir,
    survivors,
)

CLOSE_WAIT_LIMIT_S = 90.0
"""Upper bound on waiting for the broker to enforce a consumer timeout: a safety net so a
broken build fails instead of hanging, not a claim about how fast it happens."""


@contextmanager
def channel(node: PrivateRabbitMQ) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.URLParameters(node.url))
    try:
        ch = connection.channel()
        ch.confirm_delivery()
        yield ch
    finally:
        if connection.is_open:
            connection.close()


def publish_persistent(node: PrivateRabbitMQ, queue: str, *bodies: bytes) -> None:
    with channel(node) as ch:
        ch.queue_declare(queue, durable=True)
        for body in bodies:
            ch.basic_publish(
                "", queue, body, pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
            )


def take(node: PrivateRabbitMQ, queue: str) -> list[bytes]:
    """Every message in ``queue`` (acknowledged), then the queue deleted."""
    bodies = []
    with channel(node) as ch:
        while True:
            method, _props, body = ch.basic_get(queue)
            if method is None:
                break
            bodies.append(body)
            ch.basic_ack(method.delivery_tag)
        ch.queue_delete(queue)
    return bodies


def test_the_node_is_its_own(private_rabbitmq: PrivateRabbitMQ):
    node = private_rabbitmq
    assert node.url.startswith("amqp://guest:guest@127.0.0.1:") and node.port != 5672
    with channel(node) as ch:
        assert ch.is_open
    # Its own node name, epmd and ports, none of them known to the machine's node.
    assert node.node.startswith("qc-") and node.node.endswith("@localhost")
    assert "name rabbit " in shared_epmd_names()
    assert node.node.split("@")[0] not in shared_epmd_names()
    assert listening_addresses(processes_of(node)) <= {"127.0.0.1", "::1"}
    # Its consumer timeout comes from its own config file.
    # The 3.10 broker checks it on each channel tick: shortened so it fires on time.
    settings = node.eval(
        "{application:get_env(rabbit, consumer_timeout),"
        " application:get_env(rabbit, channel_tick_interval)}."
    )
    assert settings == f"{{{{ok,{SESSION_CONSUMER_TIMEOUT_MS}}},{{ok,1000}}}}"


def test_a_durable_message_survives_stop_and_start(private_rabbitmq: PrivateRabbitMQ):
    node = private_rabbitmq
    queue = f"qc-durable-{secrets.token_hex(3)}"
    publish_persistent(node, queue, b"job 1 attempt 1")
    port, processes = node.port, processes_of(node)

    node.stop()
    assert survivors(processes) == []  # the VM, its helpers and our epmd are all gone
    assert shared_services_answer() == {"postgres": True, "redis": True, "rabbitmq": True}
    assert "name rabbit " in shared_epmd_names()

    node.start()
    assert node.port == port
    assert take(node, queue) == [b"job 1 attempt 1"]


def test_durable_messages_survive_an_app_restart_and_a_kill(private_rabbitmq: PrivateRabbitMQ):
    node = private_rabbitmq
    queue = f"qc-durable-{secrets.token_hex(3)}"
    publish_persistent(node, queue, b"a", b"b")
    port = node.port

    node.restart(app_only=True)
    assert node.port == port
    with channel(node) as ch:
        assert ch.queue_declare(queue, durable=True, passive=True).method.message_count == 2

    processes = processes_of(node)
    node.kill()
    assert not node.is_running
    assert [p for p in survivors(processes) if p.name() != "epmd"] == []
    node.start()
    assert node.port == port
    assert take(node, queue) == [b"a", b"b"]


def test_an_unacknowledged_delivery_past_the_consumer_timeout_closes_the_channel(
    private_rabbitmq: PrivateRabbitMQ,
):
    node = private_rabbitmq
    queue = f"qc-timeout-{secrets.token_hex(3)}"
    node.set_consumer_timeout(2000)  # channels opened from now on
    try:
        publish_persistent(node, queue, b"slow job")
        connection = pika.BlockingConnection(pika.URLParameters(node.url))
        try:
            ch = connection.channel()
            ch.basic_qos(prefetch_count=1)
            deliveries = ch.consume(queue, auto_ack=False, inactivity_timeout=0.5)
            _method, _props, body = next(deliveries)
            assert body == b"slow job"  # ...and never acknowledged
            give_up = time.monotonic() + CLOSE_WAIT_LIMIT_S
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
                while time.monotonic() < give_up:
                    next(deliveries)
            assert caught.value.reply_code == 406  # PRECONDITION_FAILED
            assert "delivery acknowledgement" in caught.value.reply_text
        finally:
            if connection.is_open:
                connection.close()
    finally:
        node.set_consumer_timeout(SESSION_CONSUMER_TIMEOUT_MS)
    assert take(node, queue) == [b"slow job"]  # returned to the queue, not lost


def test_a_missing_server_script_is_one_clear_error_and_leaves_nothing():
    epmd = find_epmd()
    if epmd is None:
        pytest.skip("epmd is not installed")
    with state_dir() as d:
        node = PrivateRabbitMQ(d, binaries=RabbitMQBinaries(Path("/nonexistent/sbin"), epmd))
        with pytest.raises(LocalServiceError) as caught:
            node.start()
        assert "cannot run /nonexistent/sbin/rabbitmq-server" in str(caught.value)
        assert node.pids() == []
