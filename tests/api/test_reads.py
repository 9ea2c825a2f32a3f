"""Reads over HTTP give what the CLI's --json gives, from the same serializers."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import text


async def test_a_job_is_the_job_json_document(http, qc):
    async with http("submit") as c:
        job_id = (await c.post("/v1/jobs", json={"type": "demo.noop", "priority": "high"})).json()[
            "id"
        ]
        over_http = (await c.get(f"/v1/jobs/{job_id}")).json()
    code, out, _ = await asyncio.to_thread(qc, "job", str(job_id), "--json")
    assert code == 0
    assert over_http == json.loads(out)


async def test_job_pages_by_keyset_with_filters(http):
    async with http("submit") as c:
        for i in range(5):
            await c.post("/v1/jobs", json={"type": f"t{i % 2}", "queue": "pages"})
        await c.post("/v1/jobs", json={"type": "t0", "queue": "other"})
        first = (await c.get("/v1/jobs", params={"queue": "pages", "limit": 2})).json()
        second = (
            await c.get(
                "/v1/jobs", params={"queue": "pages", "limit": 2, "before": first["next_before"]}
            )
        ).json()
        third = (
            await c.get(
                "/v1/jobs", params={"queue": "pages", "limit": 2, "before": second["next_before"]}
            )
        ).json()
        typed = (await c.get("/v1/jobs", params={"type": "t1"})).json()
        queued = (await c.get("/v1/jobs", params={"state": "queued", "limit": 100})).json()
        bad = await c.get("/v1/jobs", params={"state": "asleep", "limit": 0})
    ids = [j["id"] for page in (first, second, third) for j in page["jobs"]]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    assert third["next_before"] is None
    assert {j["type"] for j in typed["jobs"]} == {"t1"} and len(typed["jobs"]) == 2
    assert len(queued["jobs"]) == 6
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {
        ("query", "state"),
        ("query", "limit"),
    }


async def test_logs_after_a_line_id(http, db):
    async with http("submit") as c:
        job_id = (await c.post("/v1/jobs", json={"type": "demo.noop"})).json()["id"]
        async with db.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO job_logs (job_id, attempt, at, level, message) "
                    "SELECT :id, 1, now(), 'info', 'line ' || n FROM generate_series(1, 3) n"
                ),
                {"id": job_id},
            )
        everything = (await c.get(f"/v1/jobs/{job_id}/logs")).json()
        second_id = everything["logs"][1]["id"]
        rest = (await c.get(f"/v1/jobs/{job_id}/logs", params={"after": second_id})).json()
        nothing_new = (
            await c.get(f"/v1/jobs/{job_id}/logs", params={"after": rest["next_after"]})
        ).json()
        missing = await c.get("/v1/jobs/999999/logs")
    assert [line["message"] for line in everything["logs"]] == ["line 1", "line 2", "line 3"]
    assert [line["message"] for line in rest["logs"]] == ["line 3"]
    assert nothing_new["logs"] == [] and nothing_new["next_after"] == rest["next_after"]
    assert missing.status_code == 404


async def test_status_is_the_status_json_document(http, qc):
    async with http("read") as c:
        over_http = (await c.get("/v1/status")).json()
    code, out, _ = await asyncio.to_thread(qc, "status", "--json")
    assert code == 0
    from_cli = json.loads(out)
    assert set(over_http) == set(from_cli)
    assert {"queues", "workers", "services", "sections", "doctor"} <= set(over_http)


async def test_queues_and_limits(http):
    async with http("operate") as c:
        await c.post("/v1/jobs", json={"type": "demo.noop", "queue": "small"})
        limited = await c.put("/v1/queues/small/limit", json={"limit": 1})
        full = await c.post("/v1/jobs", json={"type": "demo.noop", "queue": "small"})
        queues = (await c.get("/v1/queues")).json()["queues"]
        lifted = await c.put("/v1/queues/small/limit", json={"limit": None})
        bad = await c.put("/v1/queues/small/limit", json={"limit": -3})
        bad_name = await c.post("/v1/queues/no%20spaces/pause")
    assert limited.json() == {"name": "small", "paused": False, "max_waiting": 1, "waiting": 1}
    assert full.status_code == 429 and "small" in full.json()["detail"]
    assert {"name": "small", "paused": False, "max_waiting": 1, "waiting": 1} in queues
    assert lifted.json()["max_waiting"] is None
    assert bad.status_code == 422
    assert bad_name.status_code == 422
