"""Dependencies: release on completion, BLOCKED downstream of failures, un-blocking."""

from engine.specs import JobSpec
from engine.states import State
from tests.support.flow import complete, events_of, exhaust, state_of


async def diamond(client):
    """a -> (b, c) -> d, and e depends on d."""
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="a", max_retries=0),
            JobSpec("demo.noop", ref="b", depends_on=["a"], max_retries=0),
            JobSpec("demo.noop", ref="c", depends_on=["a"]),
            JobSpec("demo.noop", ref="d", depends_on=["b", "c"]),
            JobSpec("demo.noop", ref="e", depends_on=["d"]),
        ]
    )
    return wf.ids


async def test_dependents_run_only_when_all_dependencies_completed(client, db):
    ids = await diamond(client)
    changes = await complete(db, ids["a"])
    assert sorted(r.job_id for r in changes.runnables) == sorted([ids["b"], ids["c"]])
    await complete(db, ids["b"])
    assert await state_of(db, ids["d"]) is State.PENDING
    changes = await complete(db, ids["c"])
    assert [r.job_id for r in changes.runnables] == [ids["d"]]
    assert await events_of(db, ids["d"]) == [
        (None, "pending", "submitted; waiting for 2 dependencies"),
        ("pending", "queued", "dependencies completed"),
    ]


async def test_failure_blocks_everything_downstream(client, db):
    ids = await diamond(client)
    await complete(db, ids["a"])
    await exhaust(db, ids["b"])
    assert await state_of(db, ids["d"]) is State.BLOCKED
    assert await state_of(db, ids["e"]) is State.BLOCKED
    assert await state_of(db, ids["c"]) is State.QUEUED  # a sibling is not affected
    d = await client.job(ids["d"])
    assert d.wait_reason == f"dependency {ids['b']} failed"


async def test_retrying_the_failed_dependency_unblocks_and_then_releases(client, db):
    ids = await diamond(client)
    await complete(db, ids["a"])
    await exhaust(db, ids["b"])
    await complete(db, ids["c"])
    preview = await client.preview_retry(ids["b"])
    assert sorted(j.id for j in preview) == sorted([ids["d"], ids["e"]])
    await client.retry(ids["b"])
    assert await state_of(db, ids["d"]) is State.PENDING
    assert await state_of(db, ids["e"]) is State.PENDING
    await complete(db, ids["b"])
    assert await state_of(db, ids["d"]) is State.QUEUED
    await complete(db, ids["d"])
    assert await state_of(db, ids["e"]) is State.QUEUED


async def test_a_job_stays_blocked_while_another_dependency_is_still_failed(client, db):
    wf = await client.submit_workflow(
        [
            JobSpec("demo.noop", ref="x", max_retries=0),
            JobSpec("demo.noop", ref="y", max_retries=0),
            JobSpec("demo.noop", ref="z", depends_on=["x", "y"]),
        ]
    )
    ids = wf.ids
    await exhaust(db, ids["x"])
    await exhaust(db, ids["y"])
    await client.retry(ids["x"])
    assert await state_of(db, ids["z"]) is State.BLOCKED
    await client.retry(ids["y"])
    assert await state_of(db, ids["z"]) is State.PENDING


async def test_cancel_blocks_downstream_and_preview_names_them(client, db):
    ids = await diamond(client)
    preview = await client.preview_cancel(ids["a"])
    assert sorted(j.id for j in preview) == sorted(ids[r] for r in "bcde")
    changes = await client.cancel(ids["a"])
    blocked = sorted(t.job_id for t in changes.transitions if t.to_state is State.BLOCKED)
    assert blocked == sorted(ids[r] for r in "bcde")
    await client.retry(ids["a"])
    for r in "bcde":
        assert await state_of(db, ids[r]) is State.PENDING
    assert await state_of(db, ids["a"]) is State.QUEUED
