"""TLS URLs reach the drivers as TLS: ``amqps://``, ``rediss://``, ``?sslmode=require``.

No TLS server is needed. The objects the engine builds for each driver are
inspected, and the shared test servers (which speak plain TCP) are asked for
TLS: each refuses or fails the handshake. Falling back to plain text would
have succeeded instead, which is the failure this guards against.
"""

from __future__ import annotations

import ssl

import pytest
from redis.asyncio.connection import SSLConnection
from sqlalchemy import text

from engine.broker.connection import connect, connection_parameters
from engine.config import Settings
from engine.db.database import Database
from engine.errors import ServiceUnavailable
from engine.status.cache import StatusCache
from engine.status.health import probe_rabbitmq
from queueconsole.console.link import AttachedLink
from tests.support.services import free_port


def test_amqps_parameters_carry_a_verifying_tls_context():
    params = connection_parameters(Settings(amqp_url="amqps://u:p@rabbit.example.com/vh"), "n")
    assert params.ssl_options is not None
    assert params.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    assert params.ssl_options.context.check_hostname
    assert params.ssl_options.server_hostname == "rabbit.example.com"
    assert params.port == 5671
    assert connection_parameters(Settings(), "n").ssl_options is None


async def test_amqps_against_a_plain_broker_fails_the_handshake(migrated):
    """The real connect path speaks TLS to the plain port, which cannot answer it."""
    plain = migrated.amqp_url
    assert plain.startswith("amqp://")
    secure = migrated.evolve(amqp_url="amqps://" + plain.removeprefix("amqp://"))
    with pytest.raises(ServiceUnavailable) as refused:
        connection = await connect(secure, "tls-test", timeout_s=5)
        await connection.close()  # not reached: a plain-text fallback would get here
    assert "amqps://" in str(refused.value)
    health = await probe_rabbitmq(secure, timeout_s=5)
    assert not health.up


def test_rediss_builds_ssl_connections():
    settings = Settings(redis_url="rediss://:p@redis.example.com:6380/0?ssl_cert_reqs=required")
    cache = StatusCache(settings)
    pool = cache.redis.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
    plain = StatusCache(Settings())
    assert plain.redis.connection_pool.connection_class is not SSLConnection


async def test_the_consoles_redis_probe_uses_tls_too(client):
    """The console probes Redis through the engine's status cache, built from the same URL."""
    settings = client.settings.evolve(redis_url=f"rediss://127.0.0.1:{free_port()}/0")
    link = AttachedLink(settings, client, use_dashboard=False)
    try:
        health = {h.name: h for h in await link.health()}
        assert not health["redis"].up  # refused at once: nothing listens there
        cache = link.reader._cache  # the pool the probe used
        assert cache.redis.connection_pool.connection_class is SSLConnection
    finally:
        await link.stop()


def test_sslmode_becomes_asyncpgs_ssl():
    db = Database(Settings(database_url="postgresql://u:p@db.example.com/x?sslmode=verify-full"))
    assert db.engine.url.query["ssl"] == "verify-full"
    assert "sslmode" not in db.engine.url.query


async def test_sslmode_require_is_negotiated_with_the_server(migrated):
    """asyncpg asks the real server for TLS: a server without it refuses the upgrade, one
    with it gives an encrypted session. Either way, never a silent plain connection."""
    url = migrated.database_url + ("&" if "?" in migrated.database_url else "?") + "sslmode=require"
    db = Database(migrated.evolve(database_url=url))
    try:
        try:
            async with db.connection() as conn:
                encrypted = await conn.scalar(
                    text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
        except ServiceUnavailable as exc:
            assert "SSL" in str(exc), exc
        else:
            assert encrypted is True
    finally:
        await db.close()
