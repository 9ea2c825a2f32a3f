"""A job's type is looked up in the registry of handlers, never imported or resolved.

A type that looks like an import path (``os.system``, ``module:function``, the
dotted path of a real handler) must not run anything: the job waits in
RETRYING with "no handler", and a canary module on the workers' import path,
which leaves a file behind when imported, stays unimported.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from engine.states import State
from engine.worker.registry import registry
from tests.support.runtime import (
    LIVENESS_S,
    isolated,
    running_engine,
    wait_for,
    wait_until_settled,
)


def import_path_types(canary: str) -> list[str]:
    return [
        "os.system",
        "builtins.eval",
        "subprocess:call",
        "engine.worker.demo_jobs.noop",  # where demo.noop's function lives
        f"{canary}.run",
        f"{canary}:run",
        canary,
    ]


async def test_a_worker_without_the_demo_module_does_not_know_the_demo_types(migrated, db):
    production = isolated(migrated).evolve(job_modules=())  # what an operator runs
    async with running_engine(production, workers=1) as (_, client):
        job = await client.submit("demo.noop")
        await wait_for(
            db,
            "SELECT state = 'retrying' AND wait_reason LIKE 'no handler for job type%' "
            "FROM jobs WHERE id = :id",
            {"id": job.id},
        )


def test_the_registry_knows_names_not_paths():
    assert registry.get("os.system") is None
    assert registry.get("engine.worker.demo_jobs.noop") is None


async def test_import_paths_as_types_run_nothing_and_import_nothing(
    migrated, db, tmp_path, monkeypatch
):
    canary = f"qc_canary_{secrets.token_hex(4)}"
    imported = tmp_path / "imported"
    called = tmp_path / "called"
    package = tmp_path / "path" / canary
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"open({str(imported)!r}, 'w').close()\n"
        f"def run(ctx):\n    open({str(called)!r}, 'w').close()\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "path"))  # the workers inherit it

    settings = isolated(migrated)
    async with running_engine(settings, workers=1) as (_, client):
        hostile = import_path_types(canary)
        for job_type in hostile:
            await client.submit(job_type, {"cmd": f"touch {called}", "module": canary})
        await wait_for(
            db,
            "SELECT count(*) = :n FROM jobs WHERE state = 'retrying' "
            "AND wait_reason LIKE 'no handler for job type%'",
            {"n": len(hostile)},
        )
        control = await client.submit("demo.noop")
        assert (await wait_until_settled(db, [control.id]))[control.id] is State.COMPLETED

    assert not imported.exists(), "a job type made a worker import a module"
    assert not called.exists(), "a job type made a worker call a function"

    # The canary is sound: listed by the operator as a job module, it is imported.
    async with running_engine(settings.evolve(job_modules=(canary,)), workers=1):
        deadline = time.monotonic() + LIVENESS_S
        while not imported.exists():
            assert time.monotonic() < deadline, "the configured job module was never imported"
            await asyncio.sleep(0.1)
