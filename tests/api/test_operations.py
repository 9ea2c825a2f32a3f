"""Operations over HTTP answer with what changed: the job's move, dependents released or
blocked, failure groups retried, queues paused."""

from __future__ import annotations

from tests.support import flow


async def _chain(c) -> dict[str, int]:
    r = await c.post(
        "/v1/workflows",
        json={
            "jobs": [
                {"ref": "up", "type": "demo.noop"},
                {"ref": "down", "type": "demo.noop", "depends_on": ["up"]},
            ]
        },
    )
    return r.json()["jobs"]


async def test_cancel_blocks_dependents_and_retry_releases_them(http):
    async with http("operate") as c:
        ids = await _chain(c)
        cancelled = await c.post(f"/v1/jobs/{ids['up']}/cancel")
        again = await c.post(f"/v1/jobs/{ids['up']}/cancel")
        retried = await c.post(f"/v1/jobs/{ids['up']}/retry")
        missing = await c.post("/v1/jobs/999999/retry")
    assert cancelled.status_code == 200
    assert cancelled.json() == {
        "id": ids["up"],
        "from": "queued",
        "state": "cancelled",
        "affected": [{"id": ids["down"], "from": "pending", "to": "blocked"}],
        "released": [],
        "blocked": [ids["down"]],
    }
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    body = retried.json()
    assert (body["from"], body["state"]) == ("cancelled", "queued")
    assert body["released"] == [ids["down"]] and body["blocked"] == []
    assert missing.status_code == 404


async def test_a_failure_group_is_listed_and_retried(http, db):
    async with http("operate") as c:
        ids = await _chain(c)
        await flow.fail_for_good(db, [(ids["up"], "ValueError", "bad input 42")])
        groups = (await c.get("/v1/failures")).json()["groups"]
        assert len(groups) == 1 and groups[0]["job_ids"] == [ids["up"]]
        fingerprint = groups[0]["fingerprint"]
        retried = await c.post(f"/v1/failures/{fingerprint}/retry")
        empty = await c.post(f"/v1/failures/{fingerprint}/retry")
        job = (await c.get(f"/v1/jobs/{ids['down']}")).json()
    assert retried.json() == {
        "fingerprint": fingerprint,
        "retried": 1,
        "skipped": 0,
        "released": 1,
        "batches": 1,
    }
    assert empty.status_code == 404
    assert job["state"] == "pending"


async def test_pause_and_resume_say_whether_anything_changed(http):
    async with http("operate") as c:
        await c.post("/v1/jobs", json={"type": "demo.noop", "queue": "pausable"})
        paused = (await c.post("/v1/queues/pausable/pause")).json()
        twice = (await c.post("/v1/queues/pausable/pause")).json()
        resumed = (await c.post("/v1/queues/pausable/resume")).json()
    assert paused == {
        "name": "pausable",
        "paused": True,
        "max_waiting": None,
        "waiting": 1,
        "changed": True,
        "republished": 0,
    }
    assert twice["changed"] is False
    assert resumed["paused"] is False and resumed["republished"] == 1
