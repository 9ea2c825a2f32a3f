"""The job body every system runs, so each pays the same cost per job.

It does almost nothing, but it does it through Redis, where the benchmark
reads it from another process: a finished job bumps a counter and raises the
"last finished" time (``ZADD … GT`` keeps the maximum even when two processes
race), a latency job appends how long it waited between its submit and its
start. One round trip either way.
"""

from __future__ import annotations

import os
import time

import redis

REDIS_URL_VAR = "BENCH_REDIS_URL"
LAST_MEMBER = "t"
"""The one member of the ``<key>:last`` sorted set; its score is the latest finish time."""

_client: redis.Redis | None = None
_client_pid = 0


def _redis() -> redis.Redis:
    """One client per process: Celery forks its pool after import, and a socket must never
    be shared by two processes. Threads (Dramatiq) share it; redis-py pools connections."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(os.environ.get(REDIS_URL_VAR, "redis://127.0.0.1:6379/0"))
        _client_pid = os.getpid()
    return _client


def run(key: str, sent_at: float | None = None) -> None:
    """Count one finished job under ``key``, or record its submit-to-start wait in seconds
    when the producer stamped the message with its wall-clock send time."""
    started = time.time()
    if sent_at is not None:
        _redis().rpush(key, started - sent_at)
        return
    pipe = _redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.zadd(f"{key}:last", {LAST_MEMBER: time.time()}, gt=True)
    pipe.execute()
