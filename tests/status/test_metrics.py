"""What /metrics and /healthz answer (the exporter the HTTP API serves them from; tests/api
checks they are served, without a token, and engine --api-port serves them too)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from sqlalchemy import text

from engine.metrics.exporter import CONTENT_TYPE, MetricsExporter
from engine.status.cache import StatusCache
from tests.status import drive
from tests.support.services import free_port


@dataclass
class Depth:
    ready: int
    unacked: int
    consumers: int


async def fake_depths(settings, names):
    return {name: Depth(7, 2, 1) for name in names}


async def fetch(exporter: MetricsExporter, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of ``/metrics`` or ``/healthz``, as the API serves them."""
    if path == "/metrics":
        return 200, CONTENT_TYPE, (await exporter.metrics_text()).decode()
    status, body = await exporter.health()
    return status, "application/json", json.dumps(body)


class Observing(MetricsExporter):
    """Signals when it has counted as many events as a test waits for."""

    def __init__(self, *args, expect: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expect = expect
        self.seen = 0
        self.done = asyncio.Event()

    def observe(self, message) -> None:
        super().observe(message)
        self.seen += len(json.loads(message))
        if self.seen >= self.expect:
            self.done.set()


async def test_metrics_and_healthz(cached_client, db, cache, cache_settings):
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO workers (id, host, pid, queues, state, rss_bytes) "
                "VALUES ('w-1', 'box', 4242, ARRAY['x'], 'busy', 123456789)"
            )
        )
    # 3 submitted + 3 claimed + 2 completed + 1 failed
    server = Observing(
        cache_settings,
        db=db,
        cache=cache,
        broker_depths=fake_depths,
        expect=9,
    )
    await server.start()
    try:
        async with asyncio.timeout(30):
            await server.subscribed.wait()
        ids = await drive.submit(cached_client, 3, queue="x")
        await drive.complete(db, [cache], ids[:2])
        await drive.fail(db, [cache], ids[2:])
        async with asyncio.timeout(30):
            await server.done.wait()

        status, content_type, body = await fetch(server, "/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        lines = set(body.splitlines())
        assert 'queueconsole_jobs{queue="x",state="completed"} 2.0' in lines
        assert 'queueconsole_jobs{queue="x",state="failed"} 1.0' in lines
        assert 'queueconsole_queue_depth{queue="x"} 0.0' in lines
        assert 'queueconsole_broker_ready_messages{queue="x"} 7.0' in lines
        assert 'queueconsole_broker_unacked_messages{queue="x"} 2.0' in lines
        assert 'queueconsole_jobs_completed_total{queue="x",type="demo.noop"} 2.0' in lines
        assert 'queueconsole_job_runs_failed_total{queue="x",type="demo.noop"} 1.0' in lines
        assert 'queueconsole_job_run_seconds_count{type="demo.noop"} 3.0' in lines
        assert 'queueconsole_job_wait_seconds_count{queue="x"} 3.0' in lines
        assert 'queueconsole_worker_rss_bytes{host="box",worker="w-1"} 1.23456789e+08' in lines

        status, content_type, body = await fetch(server, "/healthz")
        assert (status, content_type) == (200, "application/json")
        doc = json.loads(body)
        assert doc["status"] == "ok"
        assert {n: s["up"] for n, s in doc["services"].items()} == {
            "postgresql": True,
            "rabbitmq": True,
            "redis": True,
        }
    finally:
        await server.stop()


async def test_healthz_is_503_when_the_broker_is_down(db, cache_settings):
    settings = cache_settings.evolve(amqp_url=f"amqp://guest:s3cret@127.0.0.1:{free_port()}/")
    server = MetricsExporter(settings, db=db)
    await server.start()
    try:
        status, _, body = await fetch(server, "/healthz")
    finally:
        await server.stop()
    doc = json.loads(body)
    assert status == 503 and doc["status"] == "unavailable"
    assert doc["services"]["rabbitmq"]["up"] is False
    assert doc["services"]["postgresql"]["up"] is True
    assert "s3cret" not in body


async def test_redis_down_is_reported_but_fails_healthz_only_when_required(db, cache_settings):
    settings = cache_settings.evolve(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    for required, expected in ((False, 200), (True, 503)):
        cache = StatusCache(settings, retry_after_s=0)
        server = MetricsExporter(settings, db=db, cache=cache, require_redis=required)
        await server.start()
        try:
            status, _, body = await fetch(server, "/healthz")
            metrics_status, _, metrics = await fetch(server, "/metrics")
        finally:
            await server.stop()
            await cache.close()
        assert status == expected
        assert json.loads(body)["services"]["redis"]["up"] is False
        assert metrics_status == 200 and "queueconsole_jobs" in metrics
