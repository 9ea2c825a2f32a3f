"""The control bus fans commands out to every subscriber."""

from __future__ import annotations

import asyncio

from engine.broker.admin import admin_connection
from engine.broker.control import ControlBus
from tests.broker.conftest import WAIT_S, Space, close_connections_named, needs_rabbitmqctl


class Inbox:
    def __init__(self, expected: int) -> None:
        self.commands: list[dict] = []
        self.expected = expected
        self.full = asyncio.Event()

    async def __call__(self, command: dict) -> None:
        self.commands.append(command)
        if len(self.commands) >= self.expected:
            self.full.set()


async def test_a_command_reaches_every_subscriber(space: Space):
    commands = [
        {"cmd": "scale", "queue": "emails", "workers": 3},
        {"cmd": "recycle", "worker_id": "host-1-ab"},
        {"cmd": "stop_job", "job_id": 12, "attempt": 2},
    ]
    inboxes = [Inbox(len(commands)), Inbox(len(commands))]
    buses = [ControlBus(space.settings) for _ in inboxes]
    sender = ControlBus(space.settings)
    try:
        for bus, inbox in zip(buses, inboxes, strict=True):
            await bus.subscribe(inbox)
        for command in commands:
            await sender.publish(command)
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(inbox.full.wait() for inbox in inboxes))
    finally:
        for bus in [*buses, sender]:
            await bus.close()
    assert [inbox.commands for inbox in inboxes] == [commands, commands]


async def test_junk_on_the_bus_is_ignored(space: Space):
    inbox = Inbox(1)
    bus = ControlBus(space.settings)
    try:
        await bus.subscribe(inbox)
        async with admin_connection(space.settings) as connection:  # a stray client
            channel = await connection.channel()
            channel.raw.basic_publish(space.names.control_exchange, "", b"{not json")
            channel.raw.basic_publish(space.names.control_exchange, "", b"[1]")
            await channel.close()
        await bus.publish({"cmd": "scale", "queue": "q", "workers": 1})
        async with asyncio.timeout(WAIT_S):
            await inbox.full.wait()
    finally:
        await bus.close()
    assert inbox.commands == [{"cmd": "scale", "queue": "q", "workers": 1}]


@needs_rabbitmqctl
async def test_a_subscriber_listens_again_after_losing_its_connection(space: Space):
    inbox = Inbox(1)
    name = space.connection_name("control")
    bus = ControlBus(space.settings, name=name)
    sender = ControlBus(space.settings)
    try:
        await bus.subscribe(inbox)
        assert await asyncio.to_thread(close_connections_named, name + ":in") == 1
        await bus.wait_reconnects(1)
        await sender.publish({"cmd": "recycle", "worker_id": "w1"})
        async with asyncio.timeout(WAIT_S):
            await inbox.full.wait()
    finally:
        await bus.close()
        await sender.close()
    assert inbox.commands == [{"cmd": "recycle", "worker_id": "w1"}]
    assert bus.connected is False
