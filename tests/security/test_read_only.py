"""``--read-only`` is enforced where changes are made, not only by hiding keys.

Every public coroutine of the console's :class:`ActionService` that is not a
preview is called directly on a read-only console: each is refused, and the
database, the queues and the supervisor are exactly as before. The method
list is discovered, so an action added later without the guard fails here.
A scan of the console's modules checks that nothing else reaches a mutating
engine call around the service.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

from sqlalchemy import text

from engine.client import Client
from engine.db.database import Database
from engine.states import State
from queueconsole.console.actions import ActionService
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from tests.console.conftest import FakeSupervisor, healthy
from tests.support.flow import exhaust

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "queueconsole" / "console"

MUTATING = {
    "cancel",
    "retry",
    "retry_group",
    "scale",
    "recycle",
    "pause",
    "resume",
    "pause_queue",
    "resume_queue",
    "set_queue_limit",
    "submit",
    "submit_many",
    "submit_workflow",
    "prune",
    "add_schedule",
    "remove_schedule",
    "pause_schedule",
    "resume_schedule",
    "replay_dead",
    "purge_dead",
    "sweep_dead",
}
"""Engine and runtime calls that change something."""

ENGINE_HANDLES = {"client", "link", "supervisor", "runtime", "control", "engine"}


def mutating_actions() -> list[str]:
    """Public coroutine methods of ActionService other than previews (which only read)."""
    return sorted(
        name
        for name, fn in inspect.getmembers(ActionService, inspect.iscoroutinefunction)
        if not name.startswith("_") and not name.startswith("preview_")
    )


def arguments(method: Any, ids: dict[str, Any]) -> dict[str, Any]:
    """Plausible arguments for an action, by parameter name."""
    values = {
        "job_id": ids["live"],
        "fingerprint": ids["fingerprint"],
        "queue": "default",
        "workers": 5,
        "worker_id": "w-default-1",
        "name": "nightly",
        "action": "cancel",
        "flt": None,
        "ids": [ids["live"]],
        "job_ids": [ids["failed"]],
    }
    params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    unknown = [p.name for p in params if p.name not in values and p.default is p.empty]
    assert not unknown, f"teach this test an argument for {method.__name__}{unknown}"
    return {p.name: values[p.name] for p in params if p.name in values}


async def snapshot(db: Database) -> tuple[Any, ...]:
    async with db.connection() as conn:
        jobs = (await conn.execute(text("SELECT id, state, attempts FROM jobs ORDER BY id"))).all()
        events = await conn.scalar(text("SELECT count(*) FROM job_events"))
        queues = (await conn.execute(text("SELECT name, paused, max_waiting FROM queues"))).all()
    return tuple(jobs), events, tuple(queues)


async def test_every_mutating_action_is_refused_when_read_only(client: Client, db: Database):
    live = await client.submit("demo.noop")
    failed = await client.submit("demo.fail", max_retries=0)
    await exhaust(db, failed.id)
    ids = {"live": live.id, "failed": failed.id, "fingerprint": "RuntimeError"}  # its group
    supervisor = FakeSupervisor(targets={"default": 1})
    link = AttachedLink(client.settings, client, supervisor=supervisor, probe=healthy)
    shown: list[tuple[str, str]] = []
    service = ActionService(link, read_only=True, notify=lambda m, s: shown.append((m, s)))

    names = mutating_actions()
    assert {"cancel", "retry", "retry_group", "scale", "recycle", "pause", "resume"} <= set(names)
    before = await snapshot(db)
    for name in names:
        method = getattr(service, name)
        outcome = await method(**arguments(method, ids))
        assert outcome.refused and not outcome.ok, f"{name} was not refused"
    assert await snapshot(db) == before
    assert supervisor.targets == {"default": 1} and supervisor.recycled == []
    assert (await client.job(live.id)).state is State.QUEUED
    assert len(shown) == len(names)
    assert all(m.startswith("read-only:") and s == "warning" for m, s in shown)
    await link.stop()


async def test_the_console_builds_its_service_read_only(client: Client, db: Database):
    link = AttachedLink(client.settings, client, supervisor=FakeSupervisor(), probe=healthy)
    app = ConsoleApp(link, read_only=True, refresh_s=None)
    assert app.actions.read_only
    job = await client.submit("demo.noop")
    try:
        async with app.run_test(size=(80, 24)):
            outcome = await app.actions.cancel(job.id)
    finally:
        await link.stop()
    assert outcome.refused
    assert (await client.job(job.id)).state is State.QUEUED


def test_nothing_in_the_console_changes_the_engine_around_the_action_service():
    """Only actions.py decides to change things (and link.py, which carries it out)."""
    found = []
    for path in sorted(CONSOLE.rglob("*.py")):
        if path.name in ("actions.py", "link.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in MUTATING:
                continue
            chain = {n.attr for n in ast.walk(node.func.value) if isinstance(n, ast.Attribute)}
            chain |= {n.id for n in ast.walk(node.func.value) if isinstance(n, ast.Name)}
            if chain & ENGINE_HANDLES:
                found.append(f"{path.relative_to(CONSOLE)}:{node.lineno} .{node.func.attr}()")
    assert found == [], found
