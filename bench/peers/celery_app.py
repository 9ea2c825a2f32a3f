"""Celery on RabbitMQ with the no-op task, configured from ``BENCH_*`` variables.

The worker (``celery --app bench.peers.celery_app worker``) and the producer
import this same module so they agree on the queue and the options. The result
backend is off and the worker sends no events, gossip or heartbeats: we measure
dispatch, not Celery's monitoring.
"""

from __future__ import annotations

import os

from celery import Celery

from bench.peers import PEERS, body

PEER = PEERS[os.environ.get("BENCH_PEER", "celery-reliable")]
QUEUE = os.environ.get("BENCH_QUEUE", "bench")

app = Celery("qcbench", broker=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1//"))
app.conf.update(
    result_backend=None,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    task_acks_late=PEER.acks_late,
    worker_prefetch_multiplier=PEER.prefetch_multiplier,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"confirm_publish": True} if PEER.confirm else {},
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(key: str, sent_at: float | None = None) -> None:
    """The shared no-op body."""
    body.run(key, sent_at)


def send(key: str, sent_at: float | None = None) -> None:
    """Publish one job the way an application would."""
    noop.apply_async((key, sent_at))


def close() -> None:
    """Release the producer's connections."""
    app.close()
