"""Every pane at 80x24 and 160x48 on fixed data, compared with stored text.

The stored screens are plain text (``tests/console/snapshots/*.txt``) so a
change shows up as a readable diff. After an intended change of the layout,
regenerate them with ``QC_UPDATE_SNAPSHOTS=1 pytest tests/console/test_snapshots.py``
and review the diff. A mismatch writes ``NAME.actual.txt`` beside the snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable

from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.screens.job_detail import JobDetailScreen
from tests.console.conftest import FIXED_NOW, FakeSupervisor, healthy, screen_text, settle, until
from tests.console.scenario import build, seeded_history

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("QC_UPDATE_SNAPSHOTS", "") == "1"
SIZES = [(80, 24), (160, 48)]


def compare(name: str, actual: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}; run with QC_UPDATE_SNAPSHOTS=1 to create it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        path.with_suffix(".actual.txt").write_text(actual, encoding="utf-8")
        assert actual == expected, f"{name} differs (see {path.name[:-4]}.actual.txt)"


def snapshot_app(client) -> ConsoleApp:
    link = AttachedLink(
        client.settings,
        client,
        supervisor=FakeSupervisor(targets={"default": 2, "mail": 1}),
        probe=healthy,
        use_dashboard=False,
    )
    return ConsoleApp(link, refresh_s=None, clock=lambda: FIXED_NOW, history=seeded_history())


async def shown(app, pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)
    await app.refresh_now(record=False)
    # DataTable sizes its columns on a later idle pass, which a busy machine can delay
    # past any fixed number of pauses: wait until no table has sizing left to do.
    await until(pilot, lambda: not any(sizing_pending(t) for t in app.query(DataTable)))
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


def sizing_pending(table: DataTable) -> bool:
    """Rows or cells whose widths the table has not measured yet (Textual's idle pass),
    or an auto-width column still narrower than a cell it holds."""
    if table._require_update_dimensions or table._updated_cells or table._new_rows:
        return True
    for column in table.ordered_columns:
        if not column.auto_width:
            continue
        widest = max((_cells(table.get_cell(row, column.key)) for row in table.rows), default=0)
        if column.content_width < widest:
            return True
    return False


def _cells(value: object) -> int:
    return value.cell_len if isinstance(value, Text) else len(str(value))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_panes(client, db, size):
    ids = await build(client, db)
    app = snapshot_app(client)
    tag = f"{size[0]}x{size[1]}"
    async with app.run_test(size=size) as pilot:
        await shown(app, pilot)
        compare(f"overview-{tag}", screen_text(app))
        await shown(app, pilot, "2")
        compare(f"jobs-{tag}", screen_text(app))
        await shown(app, pilot, "4")
        compare(f"workers-{tag}", screen_text(app))
        await shown(app, pilot, "5")
        compare(f"failures-{tag}", screen_text(app))
        app.show_dag(ids["load"], None)
        await settle(app, pilot)
        dag = app.pane("dag")
        dag.show_job(ids["load"], (await client.job(ids["load"])).workflow_id)
        await shown(app, pilot)
        compare(f"dag-{tag}", screen_text(app))
        await shown(app, pilot, "question_mark")
        compare(f"help-{tag}", screen_text(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_job_detail(client, db, size):
    ids = await build(client, db)
    app = snapshot_app(client)
    tag = f"{size[0]}x{size[1]}"
    async with app.run_test(size=size) as pilot:
        await shown(app, pilot, "2")
        app.query_one("#jobs-table").select_key(ids["transform"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job)
        await settle(app, pilot)
        await pilot.pause()
        compare(f"job-detail-{tag}", screen_text(app))
