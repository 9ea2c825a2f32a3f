"""Broker throughput: publishing with confirms, consuming with acks.

Ours: :class:`engine.broker.publisher.Publisher` (asyncio, up to 1,000
unconfirmed in flight) and :class:`engine.broker.consumer.Consumer` (batches,
one multiple-ack per batch). Peer, in the same run and on the same broker: a
plain synchronous pika ``BlockingConnection`` with confirms, which waits for
each confirm before the next publish, and its blocking consumer acking every
message. Same messages (``{"id", "attempt"}``, persistent, priority queue).

    python -m bench.broker [--messages 20000] [--prefetch 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import pika

from bench.common import bench_settings, median, print_table
from engine.broker.admin import admin_connection
from engine.broker.consumer import Consumer
from engine.broker.depth import delete_namespace, purge
from engine.broker.messages import CONTENT_TYPE, PERSISTENT, Delivery, Garbage, work_body
from engine.broker.names import Names
from engine.broker.publisher import Publisher
from engine.broker.topology import declare_queues
from engine.config import Settings
from engine.store.changes import Runnable

QUEUE = "bench"


async def ours_publish(settings: Settings, n: int, callers: int) -> float:
    """Seconds to publish n runnables with confirms, split between ``callers`` tasks."""
    publisher = Publisher(settings)
    await publisher.start()
    await publisher.publish([Runnable(1, 0, QUEUE, 1)])  # declare outside the timing
    await purge(settings, [QUEUE])
    chunk = n // callers
    parts = [
        [Runnable(i, 1, QUEUE, i % 4) for i in range(c * chunk + 1, (c + 1) * chunk + 1)]
        for c in range(callers)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(publisher.publish(p) for p in parts))
    elapsed = time.perf_counter() - started
    await publisher.close()
    return elapsed


async def ours_consume(settings: Settings, n: int, prefetch: int) -> float:
    """Seconds to receive and ack n waiting messages with a Consumer."""
    received = 0
    done = asyncio.Event()
    consumer: Consumer

    async def on_batch(batch: list[Delivery | Garbage]) -> None:
        nonlocal received
        await consumer.ack([d.delivery_tag for d in batch])
        received += len(batch)
        if received >= n:
            done.set()

    consumer = Consumer(settings, [QUEUE], prefetch, on_batch)
    started = time.perf_counter()
    await consumer.start()
    await done.wait()
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return elapsed


def peer_publish(settings: Settings, n: int) -> float:
    """Seconds for a BlockingConnection with confirms to publish n messages one by one."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    exchange = Names(settings.namespace).work_exchange
    started = time.perf_counter()
    for i in range(1, n + 1):
        channel.basic_publish(
            exchange,
            QUEUE,
            work_body(i, 1),
            pika.BasicProperties(
                content_type=CONTENT_TYPE,
                delivery_mode=PERSISTENT,
                priority=i % 4,
                message_id=f"{i}:1",
            ),
        )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def peer_consume(settings: Settings, broker_queue: str, n: int, prefetch: int) -> float:
    """Seconds for a blocking consumer to receive and ack n messages, one ack each."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    started = time.perf_counter()
    for received, (method, _properties, _body) in enumerate(channel.consume(broker_queue), 1):
        channel.basic_ack(method.delivery_tag)
        if received >= n:
            break
    elapsed = time.perf_counter() - started
    channel.cancel()
    connection.close()
    return elapsed


async def run(n: int, prefetch: int, repeat: int) -> list[list[object]]:
    """Measure and return the table rows."""
    settings = bench_settings("broker")
    broker_queue = Names(settings.namespace).queue(QUEUE)
    async with admin_connection(settings) as connection:
        channel = await connection.channel()
        await declare_queues(channel, Names(settings.namespace), [QUEUE])
        await channel.close()
    results: dict[str, list[float]] = {k: [] for k in ("pub1", "pub8", "con", "ppub", "pcon")}
    try:
        for _ in range(repeat):
            results["pub1"].append(await ours_publish(settings, n, 1))
            results["con"].append(await ours_consume(settings, n, prefetch))
            results["pub8"].append(await ours_publish(settings, n, 8))
            await purge(settings, [QUEUE])
            results["ppub"].append(await asyncio.to_thread(peer_publish, settings, n))
            results["pcon"].append(
                await asyncio.to_thread(peer_consume, settings, broker_queue, n, prefetch)
            )
    finally:
        await delete_namespace(settings, Names(settings.namespace), [QUEUE])
    rate = {k: n / median(v) for k, v in results.items()}
    return [
        [f"ours: publish {n:,} with confirms, one call", f"{rate['pub1']:,.0f}",
         f"{rate['pub1'] / rate['ppub']:.1f}x"],
        [f"ours: publish {n:,} with confirms, 8 concurrent callers", f"{rate['pub8']:,.0f}",
         f"{rate['pub8'] / rate['ppub']:.1f}x"],
        [f"peer: BlockingConnection publish {n:,}, confirm each", f"{rate['ppub']:,.0f}", "1.0x"],
        [f"ours: consume + ack {n:,}, prefetch {prefetch}", f"{rate['con']:,.0f}",
         f"{rate['con'] / rate['pcon']:.1f}x"],
        [f"peer: BlockingConnection consume + ack each, prefetch {prefetch}",
         f"{rate['pcon']:,.0f}", "1.0x"],
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = asyncio.run(run(args.messages, args.prefetch, args.repeat))
    print(f"\nbroker throughput, medians of {args.repeat} runs\n")
    print_table(["what", "msgs/s", "vs peer"], rows)


if __name__ == "__main__":
    main()
