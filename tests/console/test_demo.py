"""The demo workload is valid work for the engine: every spec is accepted in one go."""

from __future__ import annotations

import random
import subprocess
import sys

from engine.snapshots import JobFilter
from engine.states import State
from engine.worker.registry import DEMO_JOB_MODULE
from queueconsole.demo.workload import (
    DEMO_WORKERS,
    QUEUES,
    etl_pipeline,
    image_batch,
    single_jobs,
    submit_initial,
    training_run,
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


def test_the_demo_module_registers_every_type_the_workload_submits():
    # The demo's workers register exactly DEMO_JOB_MODULE (queueconsole demo lists it in
    # job_modules); a type the workload used beyond it would wait forever with no handler.
    code = (
        "from engine.worker.registry import load_modules, registry\n"
        f"load_modules(({DEMO_JOB_MODULE!r},))\n"
        "print(','.join(registry.names()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    registered = set(out.stdout.strip().split(","))
    rng = random.Random(3)
    specs = [
        *etl_pipeline("t"),
        *image_batch("t"),
        *training_run("t"),
        *single_jobs(rng),
        *(spec for seed in range(50) for spec in trickle_batch(random.Random(seed))),
    ]
    assert {spec.type for spec in specs} <= registered
