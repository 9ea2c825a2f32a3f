"""Handlers run with their timeout enforced, errors captured, cancels obeyed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from engine.worker.execution import Executor
from engine.worker.registry import JobContext, Registry, job


def ctx(job_id: int = 1, timeout_s: float | None = None, payload: dict | None = None) -> JobContext:
    return JobContext(
        job_id=job_id,
        attempt=1,
        type="t",
        queue="default",
        payload=payload or {},
        timeout_s=timeout_s,
    )


def ignore(ctx: JobContext, outcome: object) -> None:
    """Outcomes of jobs a test does not await."""


@pytest.fixture
def reg() -> Registry:
    return Registry()


async def test_a_result_and_cpu_time_are_recorded(reg: Registry) -> None:
    @job("ok", into=reg)
    def ok(c: JobContext) -> dict:
        c.info("hello")
        return {"n": sum(range(10_000))}

    ex = Executor(1, on_done=ignore)
    context = ctx()
    outcome = await ex.run(reg.get("ok"), context)
    assert outcome.kind == "ok"
    assert outcome.result == {"n": sum(range(10_000))}
    assert outcome.cpu_time_s is not None and outcome.cpu_time_s >= 0
    assert [line[1:] for line in context.logs] == [("info", "hello")]
    ex.close()


async def test_an_exception_becomes_an_error_with_traceback(reg: Registry) -> None:
    @job("boom", into=reg)
    def boom(c: JobContext) -> None:
        raise KeyError("missing")

    ex = Executor(1, on_done=ignore)
    outcome = await ex.run(reg.get("boom"), ctx())
    assert outcome.kind == "error"
    assert outcome.error_type == "KeyError"
    assert "missing" in outcome.error_message
    assert "raise KeyError" in outcome.traceback
    ex.close()


async def test_an_infinite_python_loop_is_interrupted_at_its_timeout(reg: Registry) -> None:
    @job("spin", into=reg)
    def spin(c: JobContext) -> None:
        while True:  # ignores should_stop on purpose
            pass

    ex = Executor(1, grace_s=5.0, on_done=ignore)
    outcome = await ex.run(reg.get("spin"), ctx(timeout_s=0.3))
    assert outcome.kind == "timeout"
    assert outcome.error_type == "JobTimeout"
    assert "0.3" in outcome.error_message
    assert not ex.stuck
    # The thread is free again: the next job runs.

    @job("after", into=reg)
    def after(c: JobContext) -> str:
        return "ran"

    assert (await ex.run(reg.get("after"), ctx(job_id=2))).result == "ran"
    ex.close()


async def test_a_handler_blocked_in_c_code_marks_the_worker_stuck(reg: Registry) -> None:
    release = threading.Event()

    @job("blocked", into=reg)
    def blocked(c: JobContext) -> None:
        release.wait()  # a C-level wait: an injected exception cannot land

    ex = Executor(1, grace_s=0.2, on_done=ignore)
    outcome = await ex.run(reg.get("blocked"), ctx(timeout_s=0.2))
    assert outcome.kind == "timeout"
    assert "worker process is replaced" in outcome.error_message
    assert ex.stuck
    release.set()
    ex.close()


async def test_stop_job_cancels_a_running_handler(reg: Registry) -> None:
    started = threading.Event()

    @job("long", into=reg)
    def long(c: JobContext) -> None:
        started.set()
        while True:
            time.sleep(0.01)

    ex = Executor(1, on_done=ignore)
    task = asyncio.create_task(ex.run(reg.get("long"), ctx(job_id=7)))
    await asyncio.to_thread(started.wait, 10)
    assert await ex.stop_job(7)
    outcome = await task
    assert outcome.kind == "interrupted"
    assert ex.running() == []
    ex.close()


async def test_async_handlers_time_out_too(reg: Registry) -> None:
    @job("asleep", into=reg)
    async def asleep(c: JobContext) -> None:
        await asyncio.sleep(60)

    ex = Executor(1, on_done=ignore)
    outcome = await ex.run(reg.get("asleep"), ctx(timeout_s=0.2))
    assert outcome.kind == "timeout"
    ex.close()


def test_a_type_name_cannot_be_registered_twice(reg: Registry) -> None:
    from engine.errors import ConfigError

    @job("dup", into=reg)
    def one(c: JobContext) -> None: ...

    with pytest.raises(ConfigError, match="already registered"):

        @job("dup", into=reg)
        def two(c: JobContext) -> None: ...


def test_the_demo_types_are_registered() -> None:
    from engine.worker.registry import load_modules, registry

    load_modules(())
    for name in (
        "demo.noop",
        "demo.sleep",
        "demo.flaky",
        "demo.fail",
        "demo.memory",
        "demo.cpu",
        "demo.workflow",
    ):
        assert name in registry
