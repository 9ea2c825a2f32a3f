"""The demo workload is valid work for the engine: every spec is accepted in one go."""

from __future__ import annotations

import random

from engine.snapshots import JobFilter
from engine.states import State
from queueconsole.demo.workload import (
    DEMO_WORKERS,
    QUEUES,
    submit_initial,
    trickle,
    trickle_batch,
)


async def test_initial_workload_has_pipelines_every_priority_and_queue(client):
    total = await submit_initial(client)
    page = await client.jobs(JobFilter(), limit=1000)
    assert len(page.items) == total
    assert {j.queue for j in page.items} == set(QUEUES)
    assert {j.priority.label for j in page.items} == {"critical", "high", "normal", "low"}
    assert len({j.workflow_id for j in page.items if j.workflow_id is not None}) == 4
    assert {j.state for j in page.items} <= {State.QUEUED, State.PENDING}
    types = {j.type for j in page.items}
    for t in ("demo.noop", "demo.sleep", "demo.flaky", "demo.fail", "demo.memory", "demo.cpu"):
        assert t in types
    assert "demo.workflow" in types
    assert set(DEMO_WORKERS) == set(QUEUES)


async def test_trickle_submits_small_batches(client):
    await trickle(client, rounds=2, every_s=0)
    page = await client.jobs(JobFilter(), limit=100)
    assert 4 <= len(page.items) <= 12
    assert all(2 <= len(trickle_batch(random.Random(s))) <= 6 for s in range(20))
