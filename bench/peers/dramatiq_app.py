"""Dramatiq on RabbitMQ with the no-op actor, configured from ``BENCH_*`` variables.

The worker (``dramatiq bench.peers.dramatiq_app``) and the producer import this
same module. Dramatiq's defaults otherwise: 8 threads per process, its default
middleware, publisher confirms only for the ``-confirm`` configuration.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from bench.peers import PEERS, body

PEER = PEERS[os.environ.get("BENCH_PEER", "dramatiq")]
QUEUE = os.environ.get("BENCH_QUEUE", "bench")

broker = RabbitmqBroker(
    url=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1/%2F"),
    confirm_delivery=PEER.confirm,
)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, actor_name="bench_noop")
def noop(key: str, sent_at: float | None = None) -> None:
    """The shared no-op body."""
    body.run(key, sent_at)


def send(key: str, sent_at: float | None = None) -> None:
    """Publish one job the way an application would."""
    noop.send(key, sent_at)


def close() -> None:
    """Release the producer's connections."""
    broker.close()
