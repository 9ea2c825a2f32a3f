"""A realistic mix of work, built from the engine's ``demo.*`` job types.

Those types are registered only by workers whose settings list their module;
``queueconsole demo`` does (:func:`~engine.worker.registry.with_demo_jobs`).

Several DAG pipelines (ETL, an image fan-out/fan-in, a training run), flaky
jobs that succeed after retries, jobs that fail for good (so the Failures
pane has groups), a slow queue, memory-hungry jobs, every priority, and a
job that submits a whole workflow itself. :func:`trickle` then keeps a steady
flow of new work coming so the charts move.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from engine.client import Client
from engine.errors import EngineError
from engine.priority import Priority
from engine.specs import JobSpec

log = logging.getLogger(__name__)

TRICKLE_EVERY_S = 2.0  # seconds between two small batches of new work
PIPELINE_EVERY = 15  # batches between two new pipelines (about every 30 s)
QUEUES = ("default", "slow", "memory", "cpu")
DEMO_WORKERS = {"default": 4, "slow": 1, "memory": 1, "cpu": 2}
"""Local workers per queue the demo's embedded engine starts with (8 in all)."""


def etl_pipeline(tag: str) -> list[JobSpec]:
    """extract → three transforms (one flaky) → load → report."""
    return [
        JobSpec("demo.sleep", {"seconds": 1.5, "step": "extract", "run": tag}, ref="extract"),
        *[
            JobSpec(
                "demo.flaky" if i == 1 else "demo.sleep",
                {"fail_times": 1} if i == 1 else {"seconds": 1.0, "step": f"transform-{i}"},
                depends_on=["extract"],
                ref=f"transform-{i}",
                backoff_s=1.0,
            )
            for i in range(3)
        ],
        JobSpec(
            "demo.sleep",
            {"seconds": 1.0, "step": "load"},
            depends_on=[f"transform-{i}" for i in range(3)],
            priority=Priority.HIGH,
            ref="load",
        ),
        JobSpec("demo.noop", {"step": "report"}, depends_on=["load"], ref="report"),
    ]


def image_batch(tag: str, width: int = 8) -> list[JobSpec]:
    """list → ``width`` resizes (one fails for good, blocking the merge) → merge → upload."""
    specs = [JobSpec("demo.noop", {"step": "list", "batch": tag}, ref="list")]
    for i in range(width):
        failing = i == width - 1
        specs.append(
            JobSpec(
                "demo.fail" if failing else "demo.cpu",
                {"probability": 1.0, "image": f"img-{i:03d}.png"}
                if failing
                else {"seconds": 0.5, "image": f"img-{i:03d}.png"},
                queue="cpu",
                depends_on=["list"],
                max_retries=1,
                backoff_s=0.5,
                ref=f"resize-{i}",
            )
        )
    specs.append(
        JobSpec(
            "demo.noop",
            {"step": "merge"},
            depends_on=[f"resize-{i}" for i in range(width)],
            ref="merge",
        )
    )
    specs.append(JobSpec("demo.sleep", {"seconds": 0.5}, depends_on=["merge"], ref="upload"))
    return specs


def training_run(tag: str) -> list[JobSpec]:
    """prepare → train (memory-hungry) → evaluate → publish, critical at the end."""
    return [
        JobSpec("demo.sleep", {"seconds": 1.0, "step": "prepare", "run": tag}, ref="prepare"),
        JobSpec(
            "demo.memory",
            {"mb": 150, "seconds": 4},
            queue="memory",
            memory_mb=256,
            depends_on=["prepare"],
            ref="train",
        ),
        JobSpec("demo.cpu", {"seconds": 1.0}, queue="cpu", depends_on=["train"], ref="evaluate"),
        JobSpec(
            "demo.noop",
            {"step": "publish"},
            priority=Priority.CRITICAL,
            depends_on=["evaluate"],
            ref="publish",
        ),
    ]


def single_jobs(rng: random.Random) -> list[JobSpec]:
    """Independent jobs of every kind and priority."""
    specs: list[JobSpec] = []
    for priority in Priority:
        specs += [JobSpec("demo.noop", {"n": i}, priority=priority) for i in range(3)]
    specs += [
        JobSpec("demo.flaky", {"fail_times": 1 + i % 2}, max_retries=3, backoff_s=1.0)
        for i in range(5)
    ]
    specs += [
        JobSpec(
            "demo.fail",
            {"probability": 1.0, "reason": "upstream API returned 503"},
            max_retries=1,
            backoff_s=0.5,
        )
        for _ in range(4)
    ]
    specs += [JobSpec("demo.fail", {"probability": 0.5}, max_retries=2) for _ in range(4)]
    specs += [
        JobSpec("demo.sleep", {"seconds": 20 + rng.randint(0, 10)}, queue="slow") for _ in range(6)
    ]
    specs += [
        JobSpec("demo.memory", {"mb": 120, "seconds": 3}, queue="memory", memory_mb=200)
        for _ in range(3)
    ]
    specs += [JobSpec("demo.cpu", {"seconds": 2}, queue="cpu") for _ in range(3)]
    specs.append(JobSpec("demo.workflow", {"width": 4, "depth": 3}))
    # Text that must be shown literally by the console, never as markup.
    specs.append(JobSpec("demo.noop", {"note": "[bold red]not markup[/] [link=http://e]x[/link]"}))
    return specs


class Submitter(Protocol):
    """What the demo needs from a client (so tests can count submissions)."""

    async def submit_many(self, specs: list[JobSpec]) -> Any: ...

    async def submit_workflow(self, specs: list[JobSpec], *, name: str | None = None) -> Any: ...


async def submit_initial(client: Client | Submitter, *, seed: int = 7) -> int:
    """Submit the initial demo workload; returns how many jobs it submitted."""
    rng = random.Random(seed)
    total = 0
    for name, specs in (
        ("etl nightly", etl_pipeline("nightly")),
        ("etl hourly", etl_pipeline("hourly")),
        ("image batch", image_batch("batch-1")),
        ("training run", training_run("r1")),
    ):
        await client.submit_workflow(specs, name=name)
        total += len(specs)
    singles = single_jobs(rng)
    await client.submit_many(singles)
    return total + len(singles)


def trickle_batch(rng: random.Random) -> list[JobSpec]:
    """A few new jobs: mostly quick, some flaky, now and then one that fails."""
    specs = []
    for _ in range(rng.randint(2, 6)):
        roll = rng.random()
        priority = rng.choice(list(Priority))
        if roll < 0.5:
            specs.append(JobSpec("demo.noop", {}, priority=priority))
        elif roll < 0.75:
            specs.append(JobSpec("demo.sleep", {"seconds": round(rng.uniform(0.2, 2), 1)}))
        elif roll < 0.85:
            specs.append(JobSpec("demo.flaky", {"fail_times": 1}, backoff_s=1.0))
        elif roll < 0.92:
            specs.append(JobSpec("demo.fail", {"probability": 0.7}, max_retries=1))
        else:
            specs.append(JobSpec("demo.cpu", {"seconds": 0.5}, queue="cpu"))
    return specs


async def trickle(
    client: Client | Submitter,
    *,
    seed: int = 11,
    every_s: float = TRICKLE_EVERY_S,
    rounds: int | None = None,
) -> None:
    """Submit a small batch every ``every_s`` seconds (forever, or ``rounds`` times)."""
    rng = random.Random(seed)
    n = 0
    while rounds is None or n < rounds:
        n += 1
        try:
            await client.submit_many(trickle_batch(rng))
            if n % PIPELINE_EVERY == 0:
                builder = rng.choice((etl_pipeline, training_run))
                await client.submit_workflow(builder(f"t{n}"), name=f"trickle {n}")
        except EngineError as exc:  # a service is down: the console shows it; keep going
            log.warning("demo trickle: %s", exc)
        if rounds is None or n < rounds:
            await asyncio.sleep(every_s)


class HasClient(Protocol):
    """Anything that carries the engine's client (the console's link to the engine)."""

    @property
    def client(self) -> Client:
        """The client to submit through."""
        ...


def demo_background(*, keep_trickling: bool = True) -> Callable[[HasClient], Awaitable[None]]:
    """The console background task: the initial workload, then the trickle."""

    async def run(link: HasClient) -> None:
        await submit_initial(link.client)
        if keep_trickling:
            await trickle(link.client)

    return run
