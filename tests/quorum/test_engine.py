"""The engine on quorum queues: jobs run, retry and dead-letter as on classic ones; the
order of a backlog is classic's; queues of the other type stop start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.depth import queue_depths
from engine.broker.names import Names
from engine.broker.topology import QueueTypeMismatch, check_queue_type
from engine.config import Settings
from engine.db.database import Database
from engine.runtime.engine import Engine, EngineOptions
from engine.runtime.wiring import open_client
from engine.specs import JobSpec
from engine.states import State
from tests.deadletters.conftest import copies_in_broker
from tests.support.runtime import completed_twice, isolated, running_engine, wait_until_settled


@pytest.fixture
async def quorum_settings(migrated: Settings) -> AsyncIterator[Settings]:
    """A namespace of its own on quorum queues, deleted afterwards."""
    settings = isolated(migrated).evolve(queue_type="quorum")
    yield settings
    await delete_namespace(settings, Names.of(settings), ["default"])


async def test_jobs_run_retry_and_dead_letter_on_quorum_queues(
    quorum_settings: Settings, db: Database
) -> None:
    async with running_engine(quorum_settings, workers=2) as (_, client):
        plain = [
            s.id
            for s in await client.submit_many(
                [JobSpec("demo.noop", priority=p) for p in ("low", "normal", "high", "critical")]
                * 5
            )
        ]
        flaky = [
            (await client.submit("demo.flaky", {"fail_times": 1}, backoff_s=0.05)).id
            for _ in range(3)
        ]
        failing = [
            (await client.submit("demo.fail", {"probability": 1.0}, max_retries=1)).id
            for _ in range(2)
        ]
        final = await wait_until_settled(db, plain + flaky + failing)
        copies = await copies_in_broker(quorum_settings)
        depths = await queue_depths(quorum_settings, ["default"])

    assert {final[i] for i in plain + flaky} == {State.COMPLETED}
    assert {final[i] for i in failing} == {State.FAILED}
    assert await completed_twice(db) == []
    assert sorted(j for j, _ in copies) == sorted(failing), "each failure has its copy"
    assert {a for _, a in copies} == {2}, "the copy is of the last attempt"
    assert depths["default"].ready == 0
    async with db.connection() as conn:
        retried = await conn.scalar(
            text("SELECT count(DISTINCT job_id) FROM job_events WHERE to_state = 'retrying'")
        )
    assert retried == len(flaky) + len(failing)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_a_backlog_runs_critical_first_then_in_submission_order(
    migrated: Settings, db: Database, queue_type: str
) -> None:
    settings = isolated(migrated).evolve(queue_type=queue_type)
    try:
        async with open_client(settings) as client:  # published, no worker yet
            low = [(await client.submit("demo.noop", priority="low")).id for _ in range(4)]
            normal = [(await client.submit("demo.noop", priority="normal")).id for _ in range(4)]
            critical = [
                (await client.submit("demo.noop", priority="critical")).id for _ in range(4)
            ]
        async with running_engine(settings, workers=1, prefetch=1):
            await wait_until_settled(db, low + normal + critical)
        async with db.connection() as conn:
            rows = await conn.execute(
                text("SELECT id FROM jobs WHERE id = ANY(:ids) ORDER BY started_at, id"),
                {"ids": low + normal + critical},
            )
            started = [r.id for r in rows]
    finally:
        await delete_namespace(settings, Names.of(settings), ["default"])
    assert started == critical + normal + low


@pytest.mark.parametrize(("declared", "configured"), [("classic", "quorum"), ("quorum", "classic")])
async def test_queues_of_the_other_type_stop_start_up_with_one_line(
    migrated: Settings, declared: str, configured: str
) -> None:
    before = isolated(migrated).evolve(queue_type=declared)
    after = before.evolve(queue_type=configured)
    try:
        await check_queue_type(before, ["default"])
        engine = Engine(after, EngineOptions(workers={"default": 1}))
        with pytest.raises(QueueTypeMismatch) as refused:
            await engine.start()
    finally:
        await delete_namespace(before, Names.of(before), ["default"])
    message = str(refused.value)
    assert "\n" not in message
    assert f"'{before.namespace}.q.default'" in message
    assert f"exists as a {declared} queue but queue_type is {configured}" in message
    assert "QUEUECONSOLE_QUEUE_TYPE" in message


def test_the_engine_command_refuses_a_switched_queue_type(
    migrated: Settings,
    qc: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    classic = isolated(migrated)
    try:
        asyncio.run(check_queue_type(classic, ["default"]))
        monkeypatch.setenv("QUEUECONSOLE_NAMESPACE", classic.namespace)
        monkeypatch.setenv("QUEUECONSOLE_QUEUE_TYPE", "quorum")
        code, _out, err = qc("engine", "--workers", "1", "--queues", "default")
    finally:
        asyncio.run(delete_namespace(classic, Names.of(classic), ["default"]))
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"{classic.namespace}.q.default" in lines[0]
    assert "queue_type" in lines[0]


def test_an_unknown_queue_type_is_refused_naming_the_setting() -> None:
    from engine.config import load_settings
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="queue_type 'mirrored' is not one of classic, quorum"):
        load_settings(environ={"QUEUECONSOLE_QUEUE_TYPE": "mirrored"})


def test_queue_type_and_the_replica_come_from_the_config_file_too(tmp_path) -> None:
    from engine.config import resolve_settings

    path = tmp_path / "config.toml"
    path.write_text(
        'queue_type = "quorum"\n'
        'read_database_url = "postgresql://reader@replica:5432/queueconsole"\n'
        "read_max_lag_s = 2.5\n",
        encoding="utf-8",
    )
    resolved = resolve_settings(path, environ={})
    assert resolved.settings.queue_type == "quorum"
    assert resolved.settings.read_database_url.startswith("postgresql://reader@replica")
    assert resolved.settings.read_max_lag_s == 2.5
    assert str(resolved.sources["queue_type"]) == f"file {path}"
    overridden = resolve_settings(path, environ={"QUEUECONSOLE_QUEUE_TYPE": "classic"})
    assert overridden.settings.queue_type == "classic", "the variable ranks above the file"
