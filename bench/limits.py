"""The physical limits of this machine, measured by the same command as the systems.

- RabbitMQ: raw pika, one publisher with publisher confirms and a window of
  messages in flight, two consumer processes with manual acks. No framework,
  no database: what the broker itself can carry here.
- PostgreSQL: raw batched writes, each transaction inserting 100 rows and
  completing (updating) the 100 of its previous transaction, two connections.
  What a durable job store could do at best with perfect batching.

The publisher and consumers are subprocesses (``python -m bench.limits …``)
that print one JSON line, like the peers' producers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import asyncpg
import pika
import pika.channel
import pika.frame
import pika.spec

MESSAGE = b'{"id":1234567,"attempt":1}'
"""About the size of one of our messages (job id and attempt)."""
STOP = b"stop"
"""Tells a consumer that the publisher is done: one per consumer, after the last message."""
PERSISTENT = 2  # AMQP delivery mode: the broker writes the message to disk in a durable queue


def declare(url: str, queue: str) -> None:
    """The durable queue the limit runs through (made before any consumer starts)."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        conn.channel().queue_declare(queue, durable=True)
    finally:
        conn.close()


def publish(url: str, queue: str, n: int, inflight: int, stops: int, timeout_s: float) -> dict:
    """Publish n persistent messages with confirms, at most ``inflight`` unconfirmed."""
    state: dict[str, Any] = {"sent": 0, "confirmed": 0, "nacked": 0, "error": None}
    unconfirmed: set[int] = set()
    props = pika.BasicProperties(delivery_mode=PERSISTENT)
    channel_box: list[pika.channel.Channel] = []

    def pump() -> None:
        channel = channel_box[0]
        while state["sent"] < n and len(unconfirmed) < inflight:
            channel.basic_publish("", queue, MESSAGE, props)
            state["sent"] += 1
            unconfirmed.add(state["sent"])
        if state["confirmed"] + state["nacked"] == n and "finished" not in state:
            state["finished"] = time.time()
            for _ in range(stops):
                channel.basic_publish("", queue, STOP, props)
            channel.connection.close()

    def on_confirm(frame: pika.frame.Method) -> None:
        method = frame.method
        tags = (
            [t for t in unconfirmed if t <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            unconfirmed.discard(tag)
        key = "confirmed" if isinstance(method, pika.spec.Basic.Ack) else "nacked"
        state[key] += len(tags)
        pump()

    def on_channel(channel: pika.channel.Channel) -> None:
        channel_box.append(channel)

        def confirmed_mode(_frame: pika.frame.Method) -> None:
            state["started"] = time.time()
            pump()

        channel.confirm_delivery(on_confirm, callback=confirmed_mode)

    def on_timeout() -> None:
        state["error"] = f"publisher not done after {timeout_s:.0f} s"
        conn.close()

    conn = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_open_error_callback=lambda _c, exc: state.update(error=str(exc)),
        on_close_callback=lambda c, _reason: c.ioloop.stop(),
    )
    conn.ioloop.call_later(timeout_s, on_timeout)
    conn.ioloop.start()
    if state["error"] is not None:
        raise SystemExit(state["error"])
    return {
        "started": state["started"],
        "finished": state["finished"],
        "sent": state["sent"],
        "nacked": state["nacked"],
    }


def consume(url: str, queue: str, prefetch: int, timeout_s: float) -> dict:
    """Consume with a manual ack per message until a stop message arrives."""
    conn = pika.BlockingConnection(pika.URLParameters(url))
    channel = conn.channel()
    channel.basic_qos(prefetch_count=prefetch)
    count, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout_s
    try:
        for method, _props, body in channel.consume(queue, inactivity_timeout=1.0):
            if time.monotonic() > deadline:
                raise SystemExit(f"consumer not stopped after {timeout_s:.0f} s")
            if method is None:  # idle second: look at the deadline again
                continue
            channel.basic_ack(method.delivery_tag)
            if body == STOP:
                break
            count += 1
            last = time.time()
            first = first or last
        channel.cancel()
    finally:
        conn.close()
    return {"count": count, "first": first, "last": last}


async def postgres_rows(dsn: str, n: int, batch: int = 100, connections: int = 2) -> float:
    """Seconds to insert and then complete n rows, ``batch`` rows per transaction.

    Each transaction inserts one batch and marks the previous batch completed:
    every row is written twice, as a job is (submitted, then finished).
    """
    admin = await asyncpg.connect(dsn)
    table = "bench_raw_jobs"
    await admin.execute(f"DROP TABLE IF EXISTS {table}")
    await admin.execute(
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, type text NOT NULL, "
        "state text NOT NULL, payload jsonb NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)"
    )
    insert = (
        f"INSERT INTO {table} (id, type, state, payload) "
        "SELECT i, 'demo.noop', 'queued', '{}'::jsonb FROM unnest($1::bigint[]) AS i"
    )
    complete = (
        f"UPDATE {table} SET state = 'completed', finished_at = now() WHERE id = ANY($1::bigint[])"
    )

    async def writer(ids: range) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            previous: list[int] = []
            for start in range(ids.start, ids.stop, batch):
                current = list(range(start, min(start + batch, ids.stop)))
                async with conn.transaction():
                    await conn.execute(insert, current)
                    if previous:
                        await conn.execute(complete, previous)
                previous = current
            if previous:
                await conn.execute(complete, previous)
        finally:
            await conn.close()

    share = -(-n // connections)
    parts = [range(i * share, min((i + 1) * share, n)) for i in range(connections)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer(p) for p in parts if len(p)))
        elapsed = time.perf_counter() - started
        done = await admin.fetchval(f"SELECT count(*) FROM {table} WHERE state = 'completed'")
        if done != n:
            raise RuntimeError(f"raw PostgreSQL run completed {done} of {n} rows")
    finally:
        await admin.execute(f"DROP TABLE IF EXISTS {table}")
        await admin.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="raw pika publisher or consumer")
    parser.add_argument("role", choices=("publish", "consume"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--inflight", type=int, default=500)
    parser.add_argument("--stops", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    if args.role == "publish":
        result = publish(args.url, args.queue, args.n, args.inflight, args.stops, args.timeout)
    else:
        result = consume(args.url, args.queue, args.prefetch, args.timeout)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
