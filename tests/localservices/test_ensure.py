"""ensure_services and its probes: use what answers, start what does not, say which."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import psutil
import pytest
import redis

from engine.config import Settings
from engine.errors import ServiceUnavailable
from localservices import (
    Binaries,
    ensure_services,
    free_port,
    probe_amqp,
    probe_postgres,
    probe_redis,
)
from tests.support.private import require, shared_services_answer, state_dir, survivors
from tests.support.services import base_settings


@contextmanager
def greeter(greeting: bytes) -> Iterator[int]:
    """A server on a free loopback port that sends ``greeting`` to each client and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the loop notices it should stop
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(greeting)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_probes_recognise_each_server_by_its_protocol():
    shared = base_settings()
    assert probe_postgres(shared.database_url).ok
    assert probe_redis(shared.redis_url).ok
    assert probe_amqp(shared.amqp_url).ok
    # Something answers, but in another protocol (as an SSH server greets every client).
    with greeter(b"SSH-2.0-OpenSSH_9.2\r\n") as port:
        for probe, url in (
            (probe_postgres, f"postgresql://u@127.0.0.1:{port}/db"),
            (probe_redis, f"redis://127.0.0.1:{port}/0"),
            (probe_amqp, f"amqp://guest:guest@127.0.0.1:{port}/%2F"),
        ):
            found = probe(url)
            assert not found.ok and found.detail == f"answered, but not as {found.service}"
    # Nothing listens.
    down = probe_postgres(f"postgresql://app:secret@127.0.0.1:{free_port()}/db")
    assert not down.ok and down.detail == "connection refused"
    assert "secret" not in down.url and "***" in down.url


def test_when_everything_answers_nothing_is_started():
    lines: list[str] = []
    with state_dir() as d:
        settings, stack = ensure_services(base_settings(), d, report=lines.append)
        assert stack is None
        assert settings == base_settings()
        assert not list(d.iterdir())
    assert len(lines) == 3
    assert all(": using " in line and "answered in" in line for line in lines)


async def test_unreachable_services_are_replaced_by_private_ones():
    require("postgres", "redis")
    base = base_settings().evolve(
        database_url=f"postgresql://app:secret@127.0.0.1:{free_port()}/demo",
        redis_url=f"redis://127.0.0.1:{free_port()}/2",
    )
    lines: list[str] = []
    with state_dir() as d:
        settings, stack = ensure_services(base, d, report=lines.append)
        assert stack is not None and stack.rabbitmq is None
        try:
            assert stack.postgres is not None and stack.redis is not None
            assert settings.database_url == stack.postgres.url_for("demo")
            assert settings.redis_url == f"redis://127.0.0.1:{stack.redis.port}/2"
            assert settings.amqp_url == base.amqp_url  # it answered: kept
            conn = await asyncpg.connect(stack.postgres.url)
            await conn.close()
            client = redis.Redis.from_url(settings.redis_url)
            try:
                assert client.ping()
            finally:
                client.close()
            processes = [p for s in stack.servers for p in _processes(s.pids())]
        finally:
            stack.close()
        assert survivors(processes) == []

    postgres_line, rabbitmq_line, redis_line = lines
    assert postgres_line.startswith("PostgreSQL: postgresql://app:***@127.0.0.1:")
    assert "is unreachable (connection refused); started a private server at" in postgres_line
    assert "secret" not in "".join(lines)
    assert rabbitmq_line.startswith("RabbitMQ: using ")
    assert redis_line.startswith("Redis: ") and "started a private server" in redis_line
    assert shared_services_answer() == {"postgres": True, "redis": True, "rabbitmq": True}


def test_an_unreachable_service_without_a_server_is_one_clear_error():
    base = base_settings().evolve(
        redis_url=f"redis://:hunter2@127.0.0.1:{free_port()}/0",
    )
    nothing = Binaries(postgres=None, redis_server=None, rabbitmq=None)
    with state_dir() as d:
        with pytest.raises(ServiceUnavailable) as caught:
            ensure_services(base, d, binaries=nothing, report=lambda line: None)
        assert not list(d.iterdir())  # nothing started
    error = caught.value
    assert error.service == "Redis"
    assert error.masked_url.startswith("redis://:***@127.0.0.1:")
    message = str(error)
    assert "hunter2" not in message
    assert "connection refused, and no Redis server is installed" in message
    assert "apt-get install redis-server" in message


def _processes(pids: list[int]) -> list[psutil.Process]:
    return [psutil.Process(pid) for pid in pids]


def test_settings_with_a_remote_url_are_probed_not_trusted():
    # A name that does not resolve is "unreachable" (with the resolver's reason), not a crash.
    settings = Settings(database_url="postgresql://u@qc-no-such-host.invalid:5432/db")
    probe = probe_postgres(settings.database_url, timeout_s=1.0)
    assert not probe.ok and probe.detail.startswith(("host not found", "no answer"))
