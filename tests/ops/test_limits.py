"""A queue limit refuses, whole and without a trace, a submission that would overflow it."""

import asyncio
import subprocess
import sys

import pytest

from engine.errors import UserError
from engine.queues.limits import QueueFull, parse_limit
from engine.specs import JobSpec
from engine.states import State
from tests.ops.conftest import scalar
from tests.support.flow import claim


async def _written(db) -> tuple[object, ...]:
    return (
        await scalar(db, "SELECT count(*) FROM jobs"),
        await scalar(db, "SELECT count(*) FROM job_events"),
        await scalar(db, "SELECT count(*) FROM job_dependencies"),
        await scalar(db, "SELECT count(*) FROM workflows"),
    )


async def test_the_submission_past_the_limit_is_refused_naming_queue_and_limit(client, db):
    info = await client.set_queue_limit("mail", 3)
    assert (info.name, info.max_waiting, info.waiting) == ("mail", 3, 0)
    for _ in range(3):
        await client.submit("demo.noop", queue="mail")
    before = await _written(db)

    with pytest.raises(QueueFull) as refused:
        await client.submit("demo.noop", queue="mail")
    message = str(refused.value)
    assert "'mail'" in message and "limit 3" in message
    assert await _written(db) == before

    # Other queues are not limited.
    await client.submit("demo.noop", queue="other")


async def test_a_workflow_that_would_overflow_is_refused_whole(client, db):
    await client.set_queue_limit("etl", 4)
    await client.submit("demo.noop", queue="etl")
    await client.submit("demo.noop", queue="etl")
    before = await _written(db)
    specs = [
        JobSpec("extract", ref="e", queue="etl"),
        JobSpec("transform", ref="t", queue="etl", depends_on=["e"]),
        JobSpec("load", ref="l", queue="warehouse", depends_on=["t"]),
        JobSpec("report", ref="r", queue="etl", depends_on=["l"]),
    ]
    with pytest.raises(QueueFull, match=r"'etl'.*limit 4"):
        await client.submit_workflow(specs, name="nightly")
    assert await _written(db) == before


async def test_waiting_counts_pending_queued_retrying_and_blocked_but_not_running(client, db):
    await client.set_queue_limit("q", 2)
    first = await client.submit("demo.noop", queue="q")
    await client.submit("demo.noop", queue="q", depends_on=[first.id])  # pending
    with pytest.raises(QueueFull):
        await client.submit("demo.noop", queue="q")
    await claim(db, first.id)  # running: it no longer waits
    third = await client.submit("demo.noop", queue="q")
    assert third.state is State.QUEUED
    assert {q.name: q.waiting for q in await client.queues()}["q"] == 2


async def test_a_duplicate_adds_nothing_and_is_not_refused(client):
    await client.set_queue_limit("q", 1)
    job = await client.submit("demo.noop", queue="q", idempotency_key="k")
    again = await client.submit("demo.noop", queue="q", idempotency_key="k")
    assert again.duplicate and again.id == job.id


async def test_concurrent_submissions_cannot_squeeze_past_the_limit(client, db):
    await client.set_queue_limit("burst", 10)

    async def one(i: int) -> bool:
        try:
            await client.submit("demo.noop", {"i": i}, queue="burst")
        except QueueFull:
            return False
        return True

    accepted = await asyncio.gather(*(one(i) for i in range(40)))
    assert sum(accepted) == 10
    assert await scalar(db, "SELECT count(*) FROM jobs WHERE queue = 'burst'") == 10


async def test_lifting_the_limit_accepts_again(client):
    await client.set_queue_limit("q", 1)
    await client.submit("demo.noop", queue="q")
    with pytest.raises(QueueFull):
        await client.submit("demo.noop", queue="q")
    info = await client.set_queue_limit("q", "none")
    assert info.max_waiting is None
    await client.submit("demo.noop", queue="q")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "at least 1"),
        (-5, "at least 1"),
        ("-1", "at least 1"),
        ("lots", "not a number"),
        (2**40, "larger than"),
        (1.5, "not a whole number"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_changes(client, value, message):
    await client.set_queue_limit("q", 7)
    with pytest.raises(UserError, match=message):
        await client.set_queue_limit("q", value)
    assert [(q.name, q.max_waiting) for q in await client.queues()] == [("q", 7)]


def test_parse_limit_spellings():
    assert parse_limit("none") is None
    assert parse_limit(None) is None
    assert parse_limit("1_000") == 1000
    assert parse_limit("25") == 25


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "queueconsole", *args], env=env, capture_output=True, text=True
    )


async def test_cli_limit_then_a_refused_submit_exits_2_with_one_line(cli_env, db):
    out = _cli(cli_env, "limit", "mail", "1")
    assert out.returncode == 0, out.stderr
    assert "at most 1 jobs waiting" in out.stdout
    assert _cli(cli_env, "submit", "demo.noop", "--queue", "mail").returncode == 0
    refused = _cli(cli_env, "submit", "demo.noop", "--queue", "mail")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "'mail' is full" in refused.stderr
    assert "limit 1" in refused.stderr
    bad = _cli(cli_env, "limit", "mail", "-3")
    assert bad.returncode == 2 and "at least 1" in bad.stderr
    lifted = _cli(cli_env, "limit", "mail", "none", "--json")
    assert lifted.returncode == 0 and '"max_waiting": null' in lifted.stdout
