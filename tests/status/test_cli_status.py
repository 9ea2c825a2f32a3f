"""``queueconsole status``: the JSON contract, the table, and a dead Redis."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import text

from engine.config import load_settings
from engine.db.database import Database
from tests.support.services import free_port

STATES = {"pending", "queued", "running", "retrying", "completed", "failed", "blocked", "cancelled"}


def add_worker() -> None:
    async def insert() -> None:
        db = Database(load_settings())
        try:
            async with db.transaction() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO workers (id, host, pid, queues, state, current_job_id, "
                        "rss_bytes) VALUES ('w-9', 'box', 99, ARRAY['x'], 'busy', 7, 52428800)"
                    )
                )
        finally:
            await db.close()

    asyncio.run(insert())


def test_status_json_contract(qc):
    for _ in range(2):
        assert qc("submit", "demo.noop", "--queue", "x")[0] == 0
    add_worker()
    code, out, err = qc("status", "--json")
    assert code == 0, err
    doc = json.loads(out)
    x = doc["queues"]["x"]
    assert set(x["counts"]) == STATES and x["counts"]["queued"] == 2
    assert {"paused", "broker_ready", "broker_unacked"} <= set(x)
    assert x["paused"] is False
    [w] = doc["workers"]
    assert {
        k: w[k] for k in ("id", "host", "pid", "queues", "state", "current_job", "rss_bytes")
    } == {
        "id": "w-9",
        "host": "box",
        "pid": 99,
        "queues": ["x"],
        "state": "busy",
        "current_job": 7,
        "rss_bytes": 52428800,
    }
    assert w["heartbeat_age_s"] >= 0
    assert set(doc["services"]) == {"postgresql", "rabbitmq", "redis"}
    for name, service in doc["services"].items():
        assert service["up"] is True, (name, service)
        assert service["latency_ms"] >= 0 and "://" in service["url"]
    assert doc["services"]["rabbitmq"]["url"].startswith("amqp://guest:***@")


def test_status_table_is_compact_and_names_every_service(qc):
    assert qc("submit", "demo.noop", "--queue", "x")[0] == 0
    code, out, _ = qc("status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["QUEUE", "PENDING", "QUEUED"]
    assert lines[1].split()[:3] == ["x", "0", "1"]
    assert any(line.startswith("postgresql: up") for line in lines)
    assert any(line.startswith("rabbitmq: up") for line in lines)
    assert any(line.startswith("redis: up") for line in lines)


def test_status_answers_from_postgresql_when_redis_is_down(qc, monkeypatch):
    assert qc("submit", "demo.noop", "--queue", "y")[0] == 0
    monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    code, out, err = qc("status", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert doc["queues"]["y"]["counts"]["queued"] == 1
    assert doc["sections"]["queues"]["source"] == "postgresql"
    redis = doc["services"]["redis"]
    assert redis["up"] is False and redis["url"].startswith("redis://:***@")
    assert "hunter2" not in out
    code, out, _ = qc("status")
    assert code == 0 and any(line.startswith("redis: down") for line in out.splitlines())
