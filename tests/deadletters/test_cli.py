"""``queueconsole dead list | replay | purge`` on the real services."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from engine.broker.publisher import Publisher
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.specs import JobSpec
from engine.states import State
from tests.deadletters.conftest import copies_in_broker, fail_ids, fail_jobs
from tests.support.flow import state_of
from tests.support.services import free_port

Qc = Callable[..., tuple[int, str, str]]
AsyncQc = Callable[..., Awaitable[tuple[int, str, str]]]


@pytest.fixture
def dead_qc(qc: Qc, space: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncQc:
    """``queueconsole`` in the test's own namespace, in a thread (it runs its own loop)."""
    monkeypatch.setenv("QUEUECONSOLE_NAMESPACE", space.namespace)

    async def run(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(qc, *args)

    return run


async def test_list_json_has_every_field_and_says_which_copies_are_in_the_broker(
    dead_qc: AsyncQc, space: Settings, dead_client: Client, publisher: Publisher
) -> None:
    ids = await fail_jobs(dead_client, publisher, 3, error="disk full")
    await dead_client.retry(ids[0])
    await fail_ids(dead_client.db, publisher, [ids[0]], error="disk full")  # fails again

    code, out, err = await dead_qc("dead", "list", "--json")

    assert code == 0, err
    listed = json.loads(out)
    assert [d["job_id"] for d in listed] == sorted(ids, reverse=True)
    first = next(d for d in listed if d["job_id"] == ids[0])
    assert set(first) >= {
        "job_id",
        "type",
        "queue",
        "failed_at",
        "error",
        "fingerprint",
        "in_broker",
    }
    assert first["type"] == "demo.fail" and first["queue"] == "default"
    assert first["error"] == "ValueError: disk full"
    assert first["in_broker"] is True and first["failed_at"].endswith("+00:00")
    # its first failure's copy was stale: only the second failure's is left
    assert sorted(j for j, _ in await copies_in_broker(space)) == sorted(ids)


async def test_list_as_a_table(dead_qc: AsyncQc, dead_client: Client, publisher: Publisher) -> None:
    ids = await fail_jobs(dead_client, publisher, 2)
    code, out, _ = await dead_qc("dead", "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["JOB", "TYPE", "QUEUE", "FAILED", "AT", "IN"]
    assert [int(r.split()[0]) for r in rows] == sorted(ids, reverse=True)
    assert all(" yes " in r for r in rows)


async def test_replay_by_id_runs_the_job_again_releases_dependents_and_drops_its_copy(
    dead_qc: AsyncQc, space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    flow = await dead_client.submit_workflow(
        [JobSpec("demo.fail", ref="a"), JobSpec("demo.noop", ref="b", depends_on=["a"])]
    )
    a, b = flow.ids["a"], flow.ids["b"]
    others = await fail_jobs(dead_client, publisher, 2)
    await fail_ids(db, publisher, [a])
    assert await state_of(db, b) is State.BLOCKED

    code, out, err = await dead_qc("dead", "replay", str(a), "--json")

    assert code == 0, err
    assert json.loads(out) == {
        "replayed": 1,
        "job_ids": [a],
        "group": None,
        "released": 1,
        "skipped": 0,
        "copies_removed": 1,
    }
    assert await state_of(db, a) is State.QUEUED
    assert await state_of(db, b) is State.PENDING
    assert [j for j, _ in await copies_in_broker(space)] == others


async def test_replay_of_a_group_drops_only_that_groups_copies(
    dead_qc: AsyncQc, space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    disk = await fail_jobs(dead_client, publisher, 3, error="disk full")
    net = await fail_jobs(dead_client, publisher, 2, error="network down")
    letters = await dead_client.dead_letters()
    group = next(d.fingerprint for d in letters if d.job_id == disk[0])

    code, out, err = await dead_qc("dead", "replay", "--group", group)

    assert code == 0, err
    assert "replayed 3 failed job(s)" in out and "removed 3 copies" in out
    assert [j for j, _ in await copies_in_broker(space)] == net
    assert {await state_of(db, i) for i in disk} == {State.QUEUED}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "999999"], "job 999999 does not exist"),
        (["replay", "--group", "no such group"], "no failed jobs left in failure group"),
        (["replay"], "name the jobs to replay"),
        (["purge", "--older-than", "7"], "is not a duration"),
        (["list", "--limit", "0"], "limit 0 must be"),
    ],
)
async def test_mistakes_exit_2_with_one_line_and_change_nothing(
    dead_qc: AsyncQc, space: Settings, db: Database, args: list[str], message: str
) -> None:
    code, out, err = await dead_qc("dead", *args)
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


async def test_replay_of_a_job_that_did_not_fail_changes_nothing(
    dead_qc: AsyncQc, space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    failed = await fail_jobs(dead_client, publisher, 1)
    waiting = (await dead_client.submit("demo.noop")).id

    code, _, err = await dead_qc("dead", "replay", str(failed[0]), str(waiting))

    assert code == 2
    assert f"job {waiting} is queued" in err
    assert await state_of(db, failed[0]) is State.FAILED
    assert [j for j, _ in await copies_in_broker(space)] == failed


async def test_purge_older_than_removes_only_old_copies_and_keeps_the_failures(
    dead_qc: AsyncQc, space: Settings, db: Database, dead_client: Client, publisher: Publisher
) -> None:
    old = await fail_jobs(dead_client, publisher, 3)
    async with db.transaction() as conn:
        from sqlalchemy import text

        await conn.execute(
            text(
                "UPDATE jobs SET finished_at = now() - interval '2 days' "
                "WHERE id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": old},
        )
    new = await fail_jobs(dead_client, publisher, 2)

    code, out, err = await dead_qc("dead", "purge", "--older-than", "1d", "--json")

    assert code == 0, err
    done = json.loads(out)
    assert done["copies_removed"] == 3 and done["failures"] == 3
    assert [j for j, _ in await copies_in_broker(space)] == new
    assert {await state_of(db, i) for i in old} == {State.FAILED}
    listed = {d.job_id: d.in_broker for d in await dead_client.dead_letters()}
    assert listed == {**dict.fromkeys(old, False), **dict.fromkeys(new, True)}

    code, out, _ = await dead_qc("dead", "purge")
    assert code == 0 and "removed 2 copies" in out
    assert await copies_in_broker(space) == []


async def test_without_rabbitmq_list_answers_from_the_last_sweep_and_purge_exits_3(
    dead_qc: AsyncQc,
    space: Settings,
    dead_client: Client,
    publisher: Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await fail_jobs(dead_client, publisher, 2)
    await dead_client.sweep_dead()
    down = f"amqp://guest:secret-pw@127.0.0.1:{free_port()}/%2F"
    monkeypatch.setenv("QUEUECONSOLE_AMQP_URL", down)

    code, out, err = await dead_qc("dead", "list", "--json")
    assert code == 0
    assert "RabbitMQ" in err and "last saw" in err and "secret-pw" not in err
    assert {d["job_id"]: d["in_broker"] for d in json.loads(out)} == dict.fromkeys(ids, True)

    code, out, err = await dead_qc("dead", "purge")
    assert code == 3 and out == ""
    assert "RabbitMQ" in err and "secret-pw" not in err
    assert {d.job_id: d.in_broker for d in await dead_client.dead_letters()} == dict.fromkeys(
        ids, True
    )  # nothing recorded
