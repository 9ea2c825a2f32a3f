"""A broker namespace of its own for each test, deleted afterwards, plus helpers.

Tests talk to the machine's RabbitMQ; a namespace per test keeps them apart
from each other and from other runs sharing the server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import pika
import pytest

from engine.broker.depth import delete_namespace
from engine.broker.messages import Delivery, Garbage
from engine.broker.names import Names
from engine.config import Settings
from tests.support.services import CI

needs_rabbitmqctl = pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None or (os.geteuid() != 0 and not CI),
    reason="closing a connection from the broker side needs rabbitmqctl (run as root)",
)
"""In CI the test runs (and fails loudly) rather than being skipped."""

WAIT_S = 60.0
"""A hang guard for waits on the broker, far above what a healthy run needs."""


@dataclass
class Space:
    """One test's namespace: settings, names, and the engine queues to delete after."""

    settings: Settings
    names: Names
    queues: set[str] = field(default_factory=set)

    def use(self, *queues: str) -> list[str]:
        """Register engine queues for clean-up; returns them."""
        self.queues.update(queues)
        return list(queues)

    def connection_name(self, role: str) -> str:
        """A client-provided connection name unique to this test."""
        return f"{self.settings.namespace}:{role}"


@pytest.fixture
async def space(settings: Settings) -> AsyncIterator[Space]:
    namespace = f"{settings.namespace}-{secrets.token_hex(3)}"
    s = settings.evolve(namespace=namespace)
    created = Space(s, Names(namespace))
    yield created
    await delete_namespace(s, created.names, sorted(created.queues))


class Collector:
    """An on_batch callback that records batches, acks them, and signals a count."""

    def __init__(self, ack: bool = True) -> None:
        self.batches: list[list[Delivery | Garbage]] = []
        self.consumer = None
        self.ack = ack
        self._waiters: list[tuple[int, asyncio.Event]] = []

    @property
    def items(self) -> list[Delivery | Garbage]:
        return [item for batch in self.batches for item in batch]

    async def __call__(self, batch: list[Delivery | Garbage]) -> None:
        self.batches.append(batch)
        if self.ack and self.consumer is not None:
            await self.consumer.ack([item.delivery_tag for item in batch])
        total = len(self.items)
        for count, event in self._waiters:
            if total >= count:
                event.set()

    async def wait_for(self, count: int) -> list[Delivery | Garbage]:
        """Wait until at least ``count`` items arrived in all; return them all."""
        if len(self.items) < count:
            event = asyncio.Event()
            self._waiters.append((count, event))
            async with asyncio.timeout(WAIT_S):
                await event.wait()
        return self.items


def publish_raw(settings: Settings, queue: str, bodies: Iterable[bytes]) -> None:
    """Put bodies on a broker queue with plain pika, bypassing our publisher."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl (needs to run as root or the rabbitmq user); return stdout."""
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def close_connections_named(name: str) -> int:
    """Make the broker close every connection whose client-provided name contains
    ``name`` (as a broker restart or an operator would); returns how many."""
    listing = rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if f'"{name}' in line]
    for pid in pids:
        rabbitmqctl("close_connection", pid, "closed by a test")
    return len(pids)
