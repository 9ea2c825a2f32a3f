"""Submissions over HTTP: one job, a batch, a workflow; and what a refusal leaves behind."""

from __future__ import annotations

from tests.api.conftest import count_rows


async def test_submit_one_job_then_read_it(http):
    async with http("submit") as c:
        r = await c.post("/v1/jobs", json={"type": "demo.noop", "payload": {"n": 1}})
        assert r.status_code == 201
        body = r.json()
        assert body == {"id": body["id"], "state": "queued", "duplicate": False}
        job = (await c.get(f"/v1/jobs/{body['id']}")).json()
    assert job["type"] == "demo.noop"
    assert job["payload"] == {"n": 1}
    assert job["queue"] == "default" and job["priority"] == "normal"
    assert job["events"][0]["to"] == "queued"


async def test_a_live_idempotency_key_answers_200_with_the_same_job(http):
    async with http("submit") as c:
        first = await c.post("/v1/jobs", json={"type": "demo.noop", "idempotency_key": "k1"})
        again = await c.post("/v1/jobs", json={"type": "demo.noop", "idempotency_key": "k1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "state": "queued", "duplicate": True}


async def test_every_wrong_field_is_named_and_nothing_is_written(http, db):
    async with http("submit") as c:
        r = await c.post(
            "/v1/jobs",
            json={"type": 5, "max_retries": "3", "colour": "red", "payload": [1]},
        )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    named = {tuple(e["loc"]) for e in problem["errors"]}
    assert {("body", "type"), ("body", "max_retries"), ("body", "colour")} <= named
    assert any(loc[:2] == ("body", "payload") for loc in named)
    assert await count_rows(db, "jobs") == 0


async def test_engine_refusals_name_each_wrong_field(http, db):
    async with http("submit") as c:
        r = await c.post(
            "/v1/jobs",
            json={"type": "demo.noop", "max_retries": -1, "queue": "no spaces", "ttl_s": 0},
        )
    assert r.status_code == 422
    named = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert named == {("body", "max_retries"), ("body", "queue"), ("body", "ttl_s")}
    assert "traceback" not in r.text.lower()
    assert await count_rows(db, "jobs") == 0


async def test_a_batch_is_all_or_nothing(http, db):
    jobs = [{"type": "demo.noop", "payload": {"i": i}} for i in range(50)]
    async with http("submit") as c:
        ok = await c.post("/v1/jobs:batch", json={"jobs": jobs})
        assert ok.status_code == 201
        ids = ok.json()["ids"]
        assert ids == sorted(ids) and len(ids) == 50
        for i in (0, 49):
            assert (await c.get(f"/v1/jobs/{ids[i]}")).json()["payload"] == {"i": i}

        bad = [*jobs[:10], {"type": "demo.noop", "memory_mb": 0}, *jobs[10:]]
        refused = await c.post("/v1/jobs:batch", json={"jobs": bad})
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["errors"]] == [["body", "jobs", 10, "memory_mb"]]
    assert await count_rows(db, "jobs") == 50


async def test_a_batch_of_ten_thousand_fits_and_one_more_does_not(http, db):
    async with http("submit") as c:
        r = await c.post("/v1/jobs:batch", json={"jobs": [{"type": "demo.noop"}] * 10_000})
        assert r.status_code == 201 and len(r.json()["ids"]) == 10_000
        r = await c.post("/v1/jobs:batch", json={"jobs": [{"type": "demo.noop"}] * 10_001})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "jobs"]
    assert await count_rows(db, "jobs") == 10_000


async def test_a_workflow_by_refs_and_its_graph(http):
    async with http("submit") as c:
        r = await c.post(
            "/v1/workflows",
            json={
                "name": "nightly",
                "jobs": [
                    {"ref": "e", "type": "demo.noop"},
                    {"ref": "t", "type": "demo.noop", "depends_on": ["e"]},
                    {"ref": "l", "type": "demo.noop", "depends_on": ["t"], "memory_mb": 64},
                ],
            },
        )
        assert r.status_code == 201
        doc = r.json()
        ids = doc["jobs"]
        graph = (await c.get(f"/v1/workflows/{doc['workflow_id']}")).json()
    assert set(ids) == {"e", "t", "l"}
    assert graph["name"] == "nightly"
    assert {n["id"]: n["state"] for n in graph["nodes"]} == {
        ids["e"]: "queued",
        ids["t"]: "pending",
        ids["l"]: "pending",
    }
    assert {(e["depends_on"], e["job"]) for e in graph["edges"]} == {
        (ids["e"], ids["t"]),
        (ids["t"], ids["l"]),
    }


async def test_a_cycle_is_refused_naming_its_jobs(http, db):
    async with http("submit") as c:
        r = await c.post(
            "/v1/workflows",
            json={
                "jobs": [
                    {"ref": "a", "type": "demo.noop", "depends_on": ["c"]},
                    {"ref": "b", "type": "demo.noop", "depends_on": ["a"]},
                    {"ref": "c", "type": "demo.noop", "depends_on": ["b"]},
                    {"ref": "free", "type": "demo.noop"},
                ]
            },
        )
    assert r.status_code == 422
    problem = r.json()
    assert sorted(problem["cycle"]) == ["a", "b", "c"]
    assert "cycle" in problem["detail"]
    assert await count_rows(db, "jobs") == 0
    assert await count_rows(db, "workflows") == 0


async def test_a_body_over_the_limit_is_413_and_writes_nothing(migrated, db, tokens):
    import httpx

    from tests.api.conftest import serving

    async with serving(migrated, max_body_bytes=4096) as s:
        headers = {"Authorization": f"Bearer {tokens['submit']}"}
        async with httpx.AsyncClient(base_url=s.url, headers=headers) as c:
            big = {"type": "demo.noop", "payload": {"x": "y" * 5000}}
            r = await c.post("/v1/jobs", json=big)
            assert r.status_code == 413
            assert r.headers["content-type"] == "application/problem+json"

            async def chunks():
                yield b'{"type": "demo.noop", "payload": {"x": "'
                for _ in range(10):
                    yield b"y" * 1000
                yield b'"}}'

            r = await c.post(
                "/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 413
    assert await count_rows(db, "jobs") == 0


async def test_a_body_that_is_not_json_is_422_naming_the_body(http, db):
    async with http("submit") as c:
        r = await c.post(
            "/v1/jobs",
            content=b'{"type": "demo.noop",',
            headers={"Content-Type": "application/json"},
        )
        empty = await c.post("/v1/jobs", content=b"")
    assert r.status_code == 422 and empty.status_code == 422
    assert r.json()["errors"][0]["loc"][0] == "body"
    assert await count_rows(db, "jobs") == 0
