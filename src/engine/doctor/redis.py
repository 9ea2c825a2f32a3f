"""Redis: does it answer, and is it configured as a cache?

The status cache must run with a memory cap and an eviction policy that
evicts (``allkeys-lru``): with ``noeviction`` a full cache refuses every status
write and the views are stuck on PostgreSQL fallbacks; without ``maxmemory``
it grows until the machine runs out.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from engine.config import Settings, mask_url
from engine.doctor.report import CheckResult, CheckStatus

TIMEOUT_S = 2.0  # seconds for connecting and for each command
EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
"""Policies that can evict any key: the status cache sets no TTL on most of its keys, so
the ``volatile-*`` policies would find almost nothing to evict."""
ADVICE_POLICY = "set `maxmemory-policy allkeys-lru` (redis.conf, or CONFIG SET and CONFIG REWRITE)"
ADVICE_MAXMEMORY = "set `maxmemory 256mb` (64–256 MB is plenty for the status cache)"


async def check_redis(settings: Settings) -> list[CheckResult]:
    """``redis`` (PING), then ``redis.maxmemory`` and ``redis.maxmemory_policy``."""
    url = mask_url(settings.redis_url)
    client = aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=TIMEOUT_S,
        socket_timeout=TIMEOUT_S,
        decode_responses=True,
        client_name=f"queueconsole-doctor-{settings.namespace}",
    )
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            return [
                CheckResult(
                    "redis",
                    CheckStatus.WARN,  # the engine runs without it, on PostgreSQL fallbacks
                    f"no answer at {url}: {settings.redact(str(exc) or type(exc).__name__)}",
                    "start Redis or fix QUEUECONSOLE_REDIS_URL; until then status views "
                    "read PostgreSQL and are slower",
                )
            ]
        results = [CheckResult("redis", CheckStatus.OK, f"answers at {url}")]
        try:
            config = await client.config_get("maxmemory*")
        except ResponseError as exc:  # CONFIG renamed or refused (managed services)
            unknown = f"unknown: CONFIG GET was refused ({exc})"
            return [
                *results,
                CheckResult(
                    "redis.maxmemory", CheckStatus.WARN, unknown, f"check it: {ADVICE_MAXMEMORY}"
                ),
                CheckResult(
                    "redis.maxmemory_policy",
                    CheckStatus.WARN,
                    unknown,
                    f"check it: {ADVICE_POLICY}",
                ),
            ]
        except (RedisError, OSError) as exc:
            reason = f"unknown: {settings.redact(str(exc) or type(exc).__name__)}"
            return [
                *results,
                CheckResult("redis.maxmemory", CheckStatus.WARN, reason, ADVICE_MAXMEMORY),
                CheckResult("redis.maxmemory_policy", CheckStatus.WARN, reason, ADVICE_POLICY),
            ]
    finally:
        await client.aclose()
    return [*results, _maxmemory(config.get("maxmemory")), _policy(config.get("maxmemory-policy"))]


def _maxmemory(raw: str | None) -> CheckResult:
    try:
        limit = int(raw or "0")
    except ValueError:
        return CheckResult("redis.maxmemory", CheckStatus.WARN, f"unreadable value {raw!r}")
    if limit == 0:
        return CheckResult(
            "redis.maxmemory",
            CheckStatus.WARN,
            "no maxmemory: the cache can grow until the machine runs out of memory",
            ADVICE_MAXMEMORY,
        )
    return CheckResult("redis.maxmemory", CheckStatus.OK, f"maxmemory {limit / 2**20:.0f} MiB")


def _policy(policy: str | None) -> CheckResult:
    if policy in EVICTING_POLICIES:
        return CheckResult("redis.maxmemory_policy", CheckStatus.OK, f"maxmemory-policy {policy}")
    if policy == "noeviction":
        why = "noeviction: a full cache refuses every status write"
    else:
        why = f"{policy or 'unknown'}: keys without a TTL (most of the cache's) are never evicted"
    return CheckResult("redis.maxmemory_policy", CheckStatus.WARN, why, ADVICE_POLICY)
