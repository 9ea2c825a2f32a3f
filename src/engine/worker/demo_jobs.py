"""Built-in job types for the demo workload, the tests and the chaos bench.

Registered only where asked for: a worker imports this module when its
``job_modules`` list it (:data:`~engine.worker.registry.DEMO_JOB_MODULE`, added by
:func:`~engine.worker.registry.with_demo_jobs`). A production worker does not know
these types; a ``demo.*`` job sent to it waits in RETRYING with "no handler".

Each one behaves exactly as its name says so that a test or a demo can make a
job succeed, fail, time out, hold memory or burn CPU on purpose.
"""

from __future__ import annotations

import random
import time
from typing import Any

from engine.specs import JobSpec
from engine.worker.registry import JobContext, job


class DemoFailure(Exception):
    """The error the demo failure types raise on purpose."""


def _number(ctx: JobContext, key: str, default: float, minimum: float = 0.0) -> float:
    value = ctx.payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"payload field {key!r} must be a number, got {value!r}")
    if value < minimum:
        raise ValueError(f"payload field {key!r} must be at least {minimum}, got {value!r}")
    return float(value)


def _sleep(ctx: JobContext, seconds: float) -> None:
    """Sleep in short slices so a timeout or cancel interrupts promptly."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if ctx.should_stop():
            return
        time.sleep(min(left, 0.05))


@job("demo.noop")
def noop(ctx: JobContext) -> None:
    """Does nothing: the unit of throughput benchmarks."""


@job("demo.sleep")
def sleep(ctx: JobContext) -> dict[str, float]:
    """Sleeps ``seconds``."""
    seconds = _number(ctx, "seconds", 1.0)
    _sleep(ctx, seconds)
    return {"slept_s": seconds}


@job("demo.flaky")
def flaky(ctx: JobContext) -> dict[str, int]:
    """Fails its first ``fail_times`` attempts, then succeeds."""
    fail_times = int(_number(ctx, "fail_times", 1))
    if ctx.attempt <= fail_times:
        ctx.warning(f"attempt {ctx.attempt} of a job that fails {fail_times} time(s)")
        raise DemoFailure(f"flaky failure {ctx.attempt}/{fail_times}")
    return {"succeeded_on_attempt": ctx.attempt}


@job("demo.fail")
def fail(ctx: JobContext) -> None:
    """Fails with ``probability`` (1.0 by default: always)."""
    probability = _number(ctx, "probability", 1.0)
    if random.random() < probability:
        raise DemoFailure(f"failed on purpose (probability {probability})")


_LEAKED: list[bytearray] = []
"""Blocks ``demo.memory`` with ``"leak": true`` never frees: a leaking handler on purpose."""


@job("demo.memory")
def memory(ctx: JobContext) -> dict[str, float]:
    """Holds ``mb`` MiB of touched memory for ``seconds``; with ``"leak": true`` it keeps
    holding them after it returns, as a leaking handler would."""
    mb = _number(ctx, "mb", 50.0)
    seconds = _number(ctx, "seconds", 1.0)
    block = bytearray(int(mb * 1024 * 1024))
    for i in range(0, len(block), 4096):  # touch every page so it is resident
        block[i] = 1
    ctx.info(f"holding {mb:g} MiB for {seconds:g} s")
    _sleep(ctx, seconds)
    if ctx.payload.get("leak") is True:
        _LEAKED.append(block)
    del block
    return {"mb": mb}


@job("demo.cpu")
def cpu(ctx: JobContext) -> dict[str, int]:
    """Burns CPU for ``seconds`` of wall time."""
    seconds = _number(ctx, "seconds", 1.0)
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline and not ctx.should_stop():
        sum(i * i for i in range(2000))
        rounds += 1
    return {"rounds": rounds}


@job("demo.workflow")
async def workflow(ctx: JobContext) -> dict[str, Any]:
    """Submits a layered workflow of ``depth`` levels of ``width`` noop/sleep jobs.

    Every job of a level depends on two jobs of the level before, so the graph
    is a real DAG, not a chain.
    """
    width = int(_number(ctx, "width", 3, minimum=1))
    depth = int(_number(ctx, "depth", 3, minimum=1))
    if width * depth > 10_000:
        raise ValueError(f"width x depth = {width * depth} jobs; at most 10,000")
    if ctx.client is None:
        raise RuntimeError("demo.workflow needs a worker with a client to submit jobs")
    specs = []
    for level in range(depth):
        for i in range(width):
            deps = (
                ()
                if level == 0
                else tuple({f"L{level - 1}.{i}", f"L{level - 1}.{(i + 1) % width}"})
            )
            kind = "demo.sleep" if (level + i) % 3 == 0 else "demo.noop"
            payload = {"seconds": 0.2} if kind == "demo.sleep" else {}
            specs.append(
                JobSpec(
                    type=kind,
                    payload=payload,
                    queue=ctx.queue,
                    depends_on=tuple(sorted(deps)),
                    ref=f"L{level}.{i}",
                )
            )
    submitted = await ctx.client.submit_workflow(specs, name=f"demo.workflow from job {ctx.job_id}")
    ctx.info(f"submitted workflow {submitted.workflow_id} with {len(specs)} jobs")
    return {"workflow_id": submitted.workflow_id, "jobs": len(specs)}
