"""Reads go to the streaming replica while it keeps up; writes and claims never do; a
replica that is down or lags past the bound sends reads to the primary until it is back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import text

from engine.client import Client
from engine.config import Settings, load_settings
from engine.errors import ConfigError
from engine.readapi.reader import StatusReader
from engine.snapshots import ReadReplicaStatus
from tests.support.replica import StreamingPair, wait_replayed
from tests.support.runtime import LIVENESS_S

T = TypeVar("T")


async def _until(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool]) -> T:
    """``read()`` again until ``ok`` holds for its value (bounded by LIVENESS_S)."""
    deadline = time.monotonic() + LIVENESS_S
    while True:
        value = await read()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.1)


async def _reads_in_recovery(client: Client) -> bool:
    """Whether the server the client's reads reach is a standby."""
    async with client.reads.connection() as conn:
        return bool(await conn.scalar(text("SELECT pg_is_in_recovery()")))


async def test_reads_come_from_the_replica_and_writes_from_the_primary(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    settings = replica_settings.evolve(read_max_lag_s=3600.0)  # the replica, however far back
    async with Client(settings) as client:
        first = (await client.submit("demo.noop")).id  # a write: the primary takes it
        await asyncio.to_thread(wait_replayed, pair)
        status = await client.read_replica()
        assert status is not None and status.using == "replica", status
        assert status.url_host == f"127.0.0.1:{pair.replica.port}"
        assert await _reads_in_recovery(client)

        pair.replica.sql("SELECT pg_wal_replay_pause()")
        second = (await client.submit("demo.noop")).id
        shown = [j.id for j in (await client.jobs()).items]
        assert first in shown and second not in shown, "the paused replica has not seen it"
        assert (await client.job(first)).id == first

        pair.replica.sql("SELECT pg_wal_replay_resume()")
        await asyncio.to_thread(wait_replayed, pair)
        assert second in [j.id for j in (await client.jobs()).items]


async def test_a_stopped_replica_sends_reads_to_the_primary_until_it_is_back(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    async with Client(replica_settings) as client:
        job = (await client.submit("demo.noop")).id
        await asyncio.to_thread(wait_replayed, pair)
        assert await _reads_in_recovery(client)

        await asyncio.to_thread(pair.replica.stop)
        assert (await client.job(job)).id == job, "the read falls back, it does not fail"
        status = await client.read_replica()
        assert status is not None
        assert status.using == "primary"
        assert status.reason.startswith("replica unreachable"), status.reason
        assert not await _reads_in_recovery(client)

        await asyncio.to_thread(pair.replica.start)
        back = await _until(client.read_replica, lambda s: s is not None and s.on_replica)
        assert back.lag_s is not None and back.lag_s <= replica_settings.read_max_lag_s
        assert await _reads_in_recovery(client)
        assert (await client.job(job)).id == job


async def test_a_replica_lagging_past_the_bound_is_left_until_it_catches_up(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    settings = replica_settings.evolve(read_max_lag_s=0.5)
    async with Client(settings) as client:
        await client.submit("demo.noop")
        await asyncio.to_thread(wait_replayed, pair)
        await _until(client.read_replica, lambda s: s is not None and s.on_replica)

        pair.replica.sql("SELECT pg_wal_replay_pause()")
        late = (await client.submit("demo.noop")).id  # the replica will not have it
        behind: ReadReplicaStatus | None = await _until(
            client.read_replica, lambda s: s is not None and not s.on_replica
        )
        assert behind is not None and behind.lag_s is not None and behind.lag_s > 0.5
        assert behind.reason == f"lag {behind.lag_s:.1f} s over the 0.5 s bound"
        assert (await client.job(late)).id == late, "the primary answers meanwhile"

        pair.replica.sql("SELECT pg_wal_replay_resume()")
        await _until(client.read_replica, lambda s: s is not None and s.on_replica)
        assert await _reads_in_recovery(client)


async def test_the_dashboard_and_status_json_say_where_reads_go(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    reader = StatusReader(replica_settings)
    try:
        on_replica = (await reader.dashboard(probe_services=False)).to_json()["read_replica"]
        await asyncio.to_thread(pair.replica.stop)
        on_primary = (await reader.dashboard(probe_services=False)).to_json()["read_replica"]
    finally:
        await reader.close()
    assert set(on_replica) == {"url_host", "lag_s", "using", "reason"}
    assert on_replica["using"] == "replica"
    assert on_replica["url_host"] == f"127.0.0.1:{pair.replica.port}"
    assert isinstance(on_replica["lag_s"], float)
    assert on_primary["using"] == "primary"
    assert on_primary["lag_s"] is None
    assert on_primary["reason"].startswith("replica unreachable")
    json.dumps(on_primary)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"QUEUECONSOLE_READ_DATABASE_URL": "mysql://db/x"},
            "read_database_url 'mysql://db/x' must start with postgresql://",
        ),
        (
            {"QUEUECONSOLE_READ_MAX_LAG_S": "0"},
            "read_max_lag_s must be more than 0",
        ),
        (
            {"QUEUECONSOLE_READ_MAX_LAG_S": "soon"},
            "environment variable QUEUECONSOLE_READ_MAX_LAG_S: read_max_lag_s must be a number",
        ),
    ],
)
def test_bad_replica_settings_are_refused_naming_the_setting(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=environ)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_status_command_shows_the_replica_in_json_and_text(
    pair: StreamingPair,
    replica_settings: Settings,
    qc: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUEUECONSOLE_DATABASE_URL", replica_settings.database_url)
    monkeypatch.setenv("QUEUECONSOLE_READ_DATABASE_URL", replica_settings.read_database_url)
    code, out, err = qc("status", "--json")
    assert code == 0, err
    shown = json.loads(out)["read_replica"]
    assert shown["using"] == "replica"
    assert shown["url_host"] == f"127.0.0.1:{pair.replica.port}"
    code, out, err = qc("status")
    assert code == 0, err
    assert f"reads: replica (replica 127.0.0.1:{pair.replica.port}, lag " in out


async def test_the_console_overview_shows_where_reads_go(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    from queueconsole.console.app import ConsoleApp
    from queueconsole.console.link import AttachedLink
    from tests.console.conftest import healthy, screen_text

    async with Client(replica_settings) as client:
        link = AttachedLink(replica_settings, client, probe=healthy)
        app = ConsoleApp(link, refresh_s=None)
        try:
            async with app.run_test(size=(160, 40)) as pilot:
                await app.refresh_now()
                await pilot.pause()
                on_replica = screen_text(app)
                await asyncio.to_thread(pair.replica.stop)
                await app.refresh_now()
                await pilot.pause()
                on_primary = screen_text(app)
        finally:
            await link.stop()
    assert "reads replica lag " in on_replica
    assert "reads primary (replica unreachable" in on_primary


async def test_the_http_api_get_routes_read_from_the_replica(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    import httpx

    from tests.api.conftest import serving

    settings = replica_settings.evolve(read_max_lag_s=3600.0)
    async with Client(settings) as client:
        first = (await client.submit("demo.noop")).id
        await asyncio.to_thread(wait_replayed, pair)
        pair.replica.sql("SELECT pg_wal_replay_pause()")
        second = (await client.submit("demo.noop")).id
    async with (
        serving(settings, auth=False) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        listed = (await http.get("/v1/jobs")).json()
        status = (await http.get("/v1/status")).json()
        submitted = (await http.post("/v1/jobs", json={"type": "demo.noop"})).status_code
        missing = (await http.get(f"/v1/jobs/{second}")).status_code
    shown = [j["id"] for j in listed["jobs"]]
    assert first in shown and second not in shown, "the paused replica has not seen it"
    assert status["read_replica"]["using"] == "replica"
    assert submitted in (200, 201), "a POST writes to the primary"
    assert missing == 404
