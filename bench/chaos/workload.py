"""The chaos workload: independent jobs and DAG workflows over several queues and priorities.

Every job says in its payload what it is meant to end as (``"chaos": "ok"`` or
``"fail"``), so the tally at the end needs no memory of the submission: a
completed ``ok`` job is a success, a failed ``fail`` job an expected failure,
and anything else is either lost (not terminal) or unexpected (the wrong
terminal state). Each submission also carries its batch label
(``"chaos_batch"``), which is how the submitter tells, after an error, whether
a submission whose commit it did not hear about was written after all.

Jobs that fail on purpose are never part of a workflow: their dependents would
stay BLOCKED, which is not terminal and would read as lost.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from engine.specs import JobSpec

QUEUES = ("alpha", "beta", "gamma", "delta")
"""The engine queues of the run; the engine runs the same number of workers on each
(one by default: four worker processes, and a kill stops a queue until its restart)."""
PRIORITIES = ("critical", "high", "normal", "low")
PRIORITY_WEIGHTS = (1, 2, 6, 2)
EXPECT = "chaos"
"""Payload key holding what a job is meant to end as: ``ok`` or ``fail``."""
BATCH = "chaos_batch"
"""Payload key holding the label of the submission the job came in."""
INDEPENDENT_BATCH = 250  # jobs per submit_many call


@dataclass(frozen=True, slots=True)
class Mix:
    """What the workload is made of; shares are fractions of all jobs."""

    workflow_share: float = 0.4
    """Jobs that belong to DAG workflows."""
    workflow_size: int = 40
    """Jobs per workflow (layers of :attr:`workflow_width`)."""
    workflow_width: int = 8
    flaky_share: float = 0.04
    """``demo.flaky`` jobs that fail once or twice and then succeed."""
    doomed_share: float = 0.01
    """Independent jobs that fail on purpose and exhaust their retries."""
    sleep_share: float = 0.15
    """``demo.sleep`` jobs of a few milliseconds (the rest are ``demo.noop``)."""
    sleep_s: tuple[float, float] = (0.002, 0.02)
    max_retries: int = 8
    """For jobs meant to succeed: room for their own flaky failures plus runs lost to the
    chaos (a run on a killed worker counts as an attempt)."""
    doomed_retries: int = 1
    backoff_s: float = 0.2
    backoff_max_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Batch:
    """One submission: independent jobs (``submit_many``) or one workflow."""

    label: str
    specs: tuple[JobSpec, ...]
    workflow: bool


def build(
    n: int,
    *,
    seed: int,
    mix: Mix = Mix(),
    long_jobs: Sequence[float] = (),
    queues: Sequence[str] = QUEUES,
) -> list[Batch]:
    """About ``n`` jobs (exactly ``n`` plus ``len(long_jobs)``) in submission order.

    ``long_jobs`` are ``demo.sleep`` runs of those many seconds, submitted first
    (one per queue in turn, high priority) so they run while the rest flows.
    """
    rng = random.Random(seed)
    batches: list[Batch] = []
    if long_jobs:
        specs = tuple(
            _spec(
                "demo.sleep",
                {"seconds": s},
                queue=queues[i % len(queues)],
                priority="high",
                mix=mix,
                label="long",
            )
            for i, s in enumerate(long_jobs)
        )
        batches.append(Batch("long", specs, workflow=False))
    in_workflows = int(n * mix.workflow_share)
    workflows: list[Batch] = []
    left = in_workflows
    while left > 0:
        size = min(mix.workflow_size, left)
        workflows.append(_workflow(rng, f"w{len(workflows)}", size, mix, queues))
        left -= size
    independent: list[Batch] = []
    left = n - in_workflows
    doomed_every = round(1 / mix.doomed_share) if mix.doomed_share > 0 else 0
    made = 0
    while left > 0:
        size = min(INDEPENDENT_BATCH, left)
        label = f"b{len(independent)}"
        specs = []
        for _ in range(size):
            made += 1
            if doomed_every and made % doomed_every == 0:
                specs.append(_doomed(rng, label, mix, queues))
            else:
                specs.append(_succeeding(rng, label, mix, queues))
        independent.append(Batch(label, tuple(specs), workflow=False))
        left -= size
    # Interleave so that workflows and independent jobs flow side by side all along.
    rest: list[Batch] = [*workflows, *independent]
    rng.shuffle(rest)
    return batches + rest


def count(batches: Sequence[Batch]) -> int:
    """Jobs in these batches."""
    return sum(len(b.specs) for b in batches)


def _spec(
    type_: str,
    payload: dict[str, object],
    *,
    queue: str,
    priority: str,
    mix: Mix,
    label: str,
    expect: str = "ok",
    ref: str | None = None,
    depends_on: tuple[str, ...] = (),
    max_retries: int | None = None,
) -> JobSpec:
    return JobSpec(
        type=type_,
        payload={**payload, EXPECT: expect, BATCH: label},
        queue=queue,
        priority=priority,
        depends_on=depends_on,
        max_retries=mix.max_retries if max_retries is None else max_retries,
        backoff_s=mix.backoff_s,
        backoff_max_s=mix.backoff_max_s,
        ref=ref,
    )


def _kind(rng: random.Random, mix: Mix) -> tuple[str, dict[str, object]]:
    """A job type meant to succeed, with its payload."""
    roll = rng.random()
    if roll < mix.flaky_share:
        return "demo.flaky", {"fail_times": rng.choice((1, 2))}
    if roll < mix.flaky_share + mix.sleep_share:
        return "demo.sleep", {"seconds": round(rng.uniform(*mix.sleep_s), 4)}
    return "demo.noop", {}


def _priority(rng: random.Random) -> str:
    return rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]


def _succeeding(rng: random.Random, label: str, mix: Mix, queues: Sequence[str]) -> JobSpec:
    type_, payload = _kind(rng, mix)
    return _spec(
        type_, payload, queue=rng.choice(queues), priority=_priority(rng), mix=mix, label=label
    )


def _doomed(rng: random.Random, label: str, mix: Mix, queues: Sequence[str]) -> JobSpec:
    """A job that fails every attempt: ``demo.fail``, or a ``demo.flaky`` that fails more
    often than its retries allow."""
    if rng.random() < 0.5:
        type_, payload = "demo.fail", {"probability": 1.0}
    else:
        type_, payload = "demo.flaky", {"fail_times": mix.doomed_retries + 2}
    return _spec(
        type_,
        payload,
        queue=rng.choice(queues),
        priority=_priority(rng),
        mix=mix,
        label=label,
        expect="fail",
        max_retries=mix.doomed_retries,
    )


def _workflow(rng: random.Random, label: str, size: int, mix: Mix, queues: Sequence[str]) -> Batch:
    """A layered DAG: each job depends on one to three jobs of the layer before (and now
    and then one two layers up), its queue and priority drawn independently, so edges
    cross queues and a dependent may outrank what it waits for."""
    width = max(1, mix.workflow_width)
    specs: list[JobSpec] = []
    layers: list[list[str]] = []
    for index in range(size):
        level, slot = divmod(index, width)
        if slot == 0:
            layers.append([])
        ref = f"n{level}.{slot}"
        deps: set[str] = set()
        if level > 0:
            above = layers[level - 1]
            deps.update(rng.sample(above, k=min(len(above), rng.randint(1, 3))))
            if level > 1 and rng.random() < 0.2:
                deps.add(rng.choice(layers[level - 2]))
        layers[level].append(ref)
        type_, payload = _kind(rng, mix)
        specs.append(
            _spec(
                type_,
                payload,
                queue=rng.choice(queues),
                priority=_priority(rng),
                mix=mix,
                label=label,
                ref=ref,
                depends_on=tuple(sorted(deps)),
            )
        )
    return Batch(label, tuple(specs), workflow=True)
