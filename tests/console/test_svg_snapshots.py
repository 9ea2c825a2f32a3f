"""SVG snapshots of every pane at 80x24 and 160x48, read the way production reads them.

Unlike ``test_snapshots.py`` (plain text, the dashboard turned off), these go through
the engine's dashboard read API (``StatusReader.dashboard``: counts, failure groups,
workers) and the per-minute history against the real test database, exactly as a
running console does. What would follow the wall clock is fixed instead: the
scenario's timestamps (``scenario.freeze``), the console's clock (``FIXED_NOW``), the
service probes' latencies and the supervisor (the only stand-in: the local process
list, with fixed memory and heartbeats). The link gets a namespace of its own, so the
broker's queue depths and the Redis status cache are this test's alone (other tests
leave messages in the run's queues).

The stored pictures live in ``tests/console/__snapshots__/test_svg_snapshots/``.
After an intended change of the layout, regenerate and review them with::

    .venv/bin/pytest tests/console/test_svg_snapshots.py --snapshot-update

A mismatch fails the test and pytest-textual-snapshot writes ``snapshot_report.html``
(the stored and the new picture side by side).
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from pytest_textual_snapshot import (
    PseudoApp,
    PseudoConsole,
    SVGImageExtension,
    node_to_report_path,
)
from rich.console import Console
from sqlalchemy import text
from syrupy import SnapshotAssertion

from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.screens.job_detail import JobDetailScreen
from tests.console.conftest import FIXED_NOW, FakeSupervisor, healthy, settle, until
from tests.console.scenario import FROZEN, build, seeded_history
from tests.console.test_snapshots import shown
from tests.support.runtime import isolated

SIZES = [(80, 24), (160, 48)]


@pytest.fixture
async def production_app(client) -> AsyncIterator[ConsoleApp]:
    """The console on the dashboard path (``use_dashboard`` as in production); its link
    is stopped afterwards (the status cache holds Redis connections)."""
    link = AttachedLink(
        isolated(client.settings),  # broker depths and the status cache of this test only
        client,
        supervisor=FakeSupervisor(targets={"default": 2, "mail": 1}),
        probe=healthy,
    )
    app = ConsoleApp(link, refresh_s=None, clock=lambda: FIXED_NOW, history=seeded_history())
    yield app
    await link.stop()


@pytest.fixture
def svg(snapshot: SnapshotAssertion, request: pytest.FixtureRequest) -> Callable[..., bool]:
    """Compare the app's screen with the stored picture ``name``.

    pytest-textual-snapshot's own ``snap_compare`` runs the app with ``App.run``, a loop
    of its own, where the database fixtures' connections cannot follow; this does what
    it does inside the test's loop: syrupy's SVG extension, and the data its HTML report
    is built from when a picture differs.
    """
    pictures = snapshot.use_extension(SVGImageExtension)

    def compare(app: ConsoleApp, name: str) -> bool:
        actual = app.export_screenshot(title="queueconsole", simplify=True)
        result = bool(pictures(name=name) == actual)
        console = Console(legacy_windows=False, force_terminal=True)
        path, line, test = request.node.reportinfo()
        data = (
            result,
            str(pictures),
            actual,
            PseudoApp(PseudoConsole(console.legacy_windows, console.size)),
            path,
            line,
            f"{test} {name}",
            inspect.getdoc(request.node.function) or "",
            "",
            True,
        )
        report = node_to_report_path(request.node)
        report.with_name(f"{report.name}_{name}").write_bytes(pickle.dumps(data))
        return result

    return compare


async def add_schedules(client, db) -> None:
    """One active schedule and one paused one, their fire times fixed."""
    await client.add_schedule("nightly-report", "0 2 * * *", "reports.build", queue="mail")
    await client.add_schedule("cleanup", "*/5 * * * *", "maint.cleanup")
    await client.pause_schedule("cleanup")
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "UPDATE schedules SET next_fire_at = CAST(:next AS timestamptz),"
                " last_tick = CAST(:last AS timestamptz)"
            ),
            {"next": FROZEN + timedelta(hours=14), "last": FROZEN - timedelta(hours=10)},
        )
        await conn.execute(
            text(
                "INSERT INTO schedule_fires (schedule_id, tick, missed) "
                "SELECT id, CAST(:tick AS timestamptz), 3 FROM schedules WHERE name = 'cleanup'"
            ),
            {"tick": FROZEN - timedelta(hours=1)},
        )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_pane(client, db, svg, size, production_app):
    """Overview, Jobs, DAG, Workers, Failures, Schedules and help, in that order."""
    ids = await build(client, db)
    await add_schedules(client, db)
    app = production_app
    async with app.run_test(size=size) as pilot:
        await shown(app, pilot)
        assert svg(app, "overview")
        await shown(app, pilot, "2")
        assert svg(app, "jobs")
        app.show_dag(ids["load"], (await client.job(ids["load"])).workflow_id)
        await shown(app, pilot)
        assert svg(app, "dag")
        await shown(app, pilot, "4")
        assert svg(app, "workers")
        await shown(app, pilot, "5")
        assert svg(app, "failures")
        await shown(app, pilot, "6")
        assert svg(app, "schedules")
        await shown(app, pilot, "question_mark")
        assert svg(app, "help")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_job_detail(client, db, svg, size, production_app):
    """A failed job of a workflow: dependencies, payload, error, events."""
    ids = await build(client, db)
    app = production_app
    async with app.run_test(size=size) as pilot:
        await shown(app, pilot, "2")
        app.query_one("#jobs-table").select_key(ids["transform"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job)
        await settle(app, pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        assert svg(app, "job-detail")
