"""Handlers run with their timeout enforced, errors captured, cancels obeyed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

from engine.config import Settings
from engine.worker.execution import Executor
from engine.worker.registry import (
    DEMO_JOB_MODULE,
    JobContext,
    Registry,
    job,
    with_demo_jobs,
)


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


DEMO_TYPES = (
    "demo.noop",
    "demo.sleep",
    "demo.flaky",
    "demo.fail",
    "demo.memory",
    "demo.cpu",
    "demo.workflow",
)


def registered_by_a_fresh_worker(job_modules: tuple[str, ...]) -> list[str]:
    """The job types a new process knows after loading ``job_modules``, as a worker
    does at start (a fresh interpreter: this one may have imported anything)."""
    code = (
        "from engine.worker.registry import load_modules, registry\n"
        f"load_modules({job_modules!r})\n"
        "print(','.join(registry.names()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.strip().split(",") if name]


def test_a_worker_knows_the_demo_types_only_when_its_settings_list_them() -> None:
    assert registered_by_a_fresh_worker(()) == [], "a production worker knows no demo type"
    assert set(DEMO_TYPES) <= set(registered_by_a_fresh_worker((DEMO_JOB_MODULE,)))


def test_with_demo_jobs_lists_the_demo_module_once() -> None:
    settings = with_demo_jobs(Settings(job_modules=("myapp.jobs",)))
    assert settings.job_modules == ("myapp.jobs", DEMO_JOB_MODULE)
    assert with_demo_jobs(settings) is settings
