"""Round-trip probes of PostgreSQL, RabbitMQ and Redis, for status views and /healthz.

Each probe is cheap (no table is read) and bounded by a timeout, and none
raises: a service that does not answer comes back as ``up=False`` with the
reason, its URL masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from urllib.parse import urlsplit

from engine.config import Settings, mask_url
from engine.db.database import Database
from engine.errors import ServiceUnavailable
from engine.snapshots import ServiceHealth
from engine.status.cache import StatusCache

PROBE_TIMEOUT_S = 2.0  # seconds a probe may take before its service counts as down
AMQP_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"  # AMQP 0-9-1
_CONNECTION_START = (10, 10)  # class connection, method start: the server's first frame


def _reason(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, ServiceUnavailable):
        return settings.redact(exc.reason)
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:g} s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return settings.redact(text)


async def probe_postgres(db: Database, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
    """``SELECT 1`` on a pooled connection."""
    url = mask_url(db.settings.database_url)
    try:
        async with asyncio.timeout(timeout_s):
            latency = await db.ping()
    except Exception as exc:  # reported, never raised: a status view must keep going
        return ServiceHealth("postgresql", False, url, error=_reason(exc, db.settings))
    return ServiceHealth("postgresql", True, url, latency_ms=latency)


async def probe_redis(cache: StatusCache, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
    """PING on the status cache's connection pool."""
    try:
        async with asyncio.timeout(timeout_s):
            latency = await cache.ping()
    except Exception as exc:  # reported, never raised
        return ServiceHealth("redis", False, cache.masked_url, error=_reason(exc, cache.settings))
    return ServiceHealth("redis", True, cache.masked_url, latency_ms=latency)


async def probe_rabbitmq(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> ServiceHealth:
    """Open a connection and wait for the broker's Connection.Start, then hang up.

    That proves an AMQP 0-9-1 server is listening and answering without
    logging in, so the probe needs no credentials and opens no channel.
    """
    url = mask_url(settings.amqp_url)
    parts = urlsplit(settings.amqp_url)
    secure = parts.scheme == "amqps"
    host = parts.hostname or "localhost"
    started = time.perf_counter()
    writer: asyncio.StreamWriter | None = None
    try:
        port = parts.port or (5671 if secure else 5672)
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None
            )
            writer.write(AMQP_PROTOCOL_HEADER)
            await writer.drain()
            header = await reader.readexactly(7)
            frame_type, _channel, size = struct.unpack("!BHI", header)
            if frame_type == ord("A"):
                raise ConnectionError("the server does not speak AMQP 0-9-1")
            payload = await reader.readexactly(min(size, 4)) if size >= 4 else b""
            if frame_type != 1 or struct.unpack("!HH", payload) != _CONNECTION_START:
                raise ConnectionError("unexpected first frame from the server")
    except Exception as exc:  # reported, never raised
        return ServiceHealth("rabbitmq", False, url, error=_reason(exc, settings))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):  # the server may already have dropped us
                await writer.wait_closed()
    return ServiceHealth("rabbitmq", True, url, latency_ms=(time.perf_counter() - started) * 1000)


async def probe_all(
    db: Database,
    settings: Settings,
    cache: StatusCache | None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> tuple[ServiceHealth, ...]:
    """All three probes at once, in the order PostgreSQL, RabbitMQ, Redis."""
    redis_probe = probe_redis(cache, timeout_s) if cache is not None else _no_cache(settings)
    pg, mq, rd = await asyncio.gather(
        probe_postgres(db, timeout_s), probe_rabbitmq(settings, timeout_s), redis_probe
    )
    return (pg, mq, rd)


async def _no_cache(settings: Settings) -> ServiceHealth:
    return ServiceHealth(
        "redis", False, mask_url(settings.redis_url), error="not connected (no status cache)"
    )
