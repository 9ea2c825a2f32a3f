"""A tenant-bound token sees and acts on its tenant's jobs only, through every route.

Another tenant's job answers 404 exactly as a job that does not exist; listings
and the live streams (SSE and WebSocket) hold only the bound tenant's jobs.
"""

from __future__ import annotations

import json

import httpx
import pytest
import websockets

from engine.specs import JobSpec
from tests.api.conftest import serving
from tests.api.events.streams import collect_sse, collect_ws, sse


@pytest.fixture
async def world(migrated, db, client):
    """Two tenants with a job each (and a workflow for acme), a bound and an unbound token."""
    await client.add_tenant("acme")
    await client.add_tenant("globex")
    theirs = await client.submit("demo.noop", tenant="globex")
    their_wf = await client.submit_workflow([JobSpec("demo.noop", ref="a", tenant="globex")])
    mine = await client.submit("demo.noop", tenant="acme")
    secrets = {
        "acme": (await client.create_token("acme-op", "operate", tenant="acme")).secret,
        "all": (await client.create_token("all-op", "operate")).secret,
    }
    async with serving(migrated) as server:
        yield server, secrets, mine.id, theirs.id, their_wf.workflow_id


def as_token(server, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


async def test_another_tenants_job_is_a_404_on_every_job_route(world):
    server, secrets, mine, theirs, their_wf = world
    async with as_token(server, secrets["acme"]) as c:
        unknown = await c.get("/v1/jobs/999999")
        for method, path in (
            ("GET", f"/v1/jobs/{theirs}"),
            ("GET", f"/v1/jobs/{theirs}/logs"),
            ("POST", f"/v1/jobs/{theirs}/cancel"),
            ("POST", f"/v1/jobs/{theirs}/retry"),
        ):
            r = await c.request(method, path)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["detail"] == f"job {theirs} does not exist"
        assert unknown.json()["detail"] == "job 999999 does not exist"
        r = await c.get(f"/v1/workflows/{their_wf}")
        assert r.status_code == 404
        assert (await c.get(f"/v1/jobs/{mine}")).json()["tenant"] == "acme"
        listed = (await c.get("/v1/jobs")).json()["jobs"]
        assert [j["id"] for j in listed] == [mine]
        assert (await c.get("/v1/jobs", params={"tenant": "globex"})).json()["jobs"] == []
        assert (await c.post(f"/v1/jobs/{mine}/cancel")).status_code == 200
    async with as_token(server, secrets["all"]) as c:
        assert (await c.get(f"/v1/jobs/{theirs}")).status_code == 200
        assert len((await c.get("/v1/jobs")).json()["jobs"]) == 3


async def test_routes_spanning_every_tenant_are_refused_to_a_bound_token(world):
    server, secrets, *_ = world
    async with as_token(server, secrets["acme"]) as c:
        for method, path in (
            ("GET", "/v1/status"),
            ("GET", "/v1/queues"),
            ("GET", "/v1/failures"),
            ("POST", "/v1/queues/default/pause"),
            ("POST", "/v1/failures/abc/retry"),
        ):
            r = await c.request(method, path)
            assert r.status_code == 403, (path, r.text)
            assert "bound to tenant 'acme'" in r.json()["detail"]


async def test_a_bound_token_submits_for_its_tenant_only(world, client):
    server, secrets, *_ = world
    async with as_token(server, secrets["acme"]) as c:
        r = await c.post("/v1/jobs", json={"type": "demo.noop"})
        assert r.status_code == 201
        assert (await client.job(r.json()["id"])).tenant == "acme"
        r = await c.post("/v1/jobs", json={"type": "demo.noop", "tenant": "globex"})
        assert r.status_code == 403
        r = await c.post(
            "/v1/jobs:batch", json={"jobs": [{"type": "demo.noop", "tenant": "globex"}]}
        )
        assert r.status_code == 403
        r = await c.post("/v1/workflows", json={"jobs": [{"ref": "x", "type": "demo.noop"}]})
        assert r.status_code == 201
        assert (await client.job(r.json()["jobs"]["x"])).tenant == "acme"


async def test_streams_carry_only_the_bound_tenants_events(world):
    server, secrets, mine, *_ = world
    async with sse(server.url, params={"after": 0, "token": secrets["acme"]}) as stream:
        events = await collect_sse(stream, lambda ev: any(e["job_id"] == mine for e in ev))
    assert {e["tenant"] for e in events} == {"acme"}
    ws_url = server.url.replace("http://", "ws://")
    async with websockets.connect(
        f"{ws_url}/v1/ws?after=0", additional_headers={"Authorization": f"Bearer {secrets['acme']}"}
    ) as conn:
        events = await collect_ws(conn, lambda ev: any(e["job_id"] == mine for e in ev))
    assert {e["tenant"] for e in events} == {"acme"}
    assert [json.dumps(e["job_id"]) for e in events] == [json.dumps(mine)]
