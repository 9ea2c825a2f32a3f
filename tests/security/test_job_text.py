"""Text from jobs is shown as text: never console markup, never terminal control.

A job's payload, idempotency key, error, traceback and log lines hold Rich
markup (``[bold]``, ``[link=…]``), ANSI colour codes, an OSC 8 hyperlink, an
8-bit CSI "clear screen" and a bell. The console's Jobs pane, job detail and
Failures pane and the CLI's ``job``, ``jobs`` and ``status`` must show the
markup literally, make the control characters visible instead of sending
them, and carry no hyperlink; ``--json`` must round-trip the exact text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from rich.console import Console

from engine.client import Client
from engine.db.database import Database
from engine.specs import JobSpec
from engine.store import transitions
from engine.store.transitions import Failure
from engine.store.workers import insert_logs
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.widgets.keyed_table import KeyedTable
from tests.console.conftest import FIXED_NOW, FakeSupervisor, healthy, screen_text, settle, until
from tests.properties.conftest import run_cli
from tests.support.flow import claim

MARKUP = "[bold]B[/bold] [link=http://evil.example]L[/link]"
ESCAPES = "\x1b[31mRED\x1b[0m \x1b]8;;http://evil.example/\x1b\\OSC\x1b]8;;\x1b\\ \x9b2J \x07"
HOSTILE = f"{MARKUP} {ESCAPES}"
RAW_CONTROLS = ("\x1b", "\x9b", "\x07")


@pytest.fixture
async def hostile_job(client: Client, db: Database) -> int:
    """A failed job whose every piece of free text is hostile."""
    job = await client.submit(
        "demo.fail", {"m": HOSTILE}, max_retries=0, idempotency_key=f"key {HOSTILE}"
    )
    c = await claim(db, job.id)
    await db.run(
        lambda conn: insert_logs(
            conn, [(job.id, c.attempt, datetime.now(UTC), "error", f"log {HOSTILE}")]
        )
    )
    await db.run(
        lambda conn: transitions.fail(
            conn,
            [
                Failure(
                    job.id,
                    c.attempt,
                    "Err[or]",
                    f"msg {HOSTILE}",
                    traceback=f"Traceback (most recent call last):\n  tb {HOSTILE}\n",
                    retryable=False,
                )
            ],
        )
    )
    return job.id


def assert_literal(shown: str, where: str) -> None:
    assert MARKUP in shown, f"{where}: markup was interpreted or lost"
    for ch in RAW_CONTROLS:
        assert ch not in shown, f"{where}: raw {ch!r} reaches the terminal"
    assert "\\x1b[31mRED" in shown, f"{where}: the escape should be visible as text"


def links_drawn(app: ConsoleApp) -> list[str]:
    """Hyperlinks in what the screen would send to the terminal."""
    console = Console(width=app.size[0], file=StringIO(), color_system="truecolor")
    update = app.screen._compositor.render_update(full=True)
    return [
        s.style.link
        for s in console.render(update, console.options)
        if s.style is not None and s.style.link
    ]


async def test_console_shows_job_text_literally(client, db, hostile_job):
    link = AttachedLink(client.settings, client, supervisor=FakeSupervisor(), probe=healthy)
    app = ConsoleApp(link, refresh_s=None, clock=lambda: FIXED_NOW)
    workflow = await client.submit_workflow([JobSpec("demo.noop", ref="only")], name=HOSTILE)
    workflow_job = workflow.ids["only"]
    try:
        await _walk_the_panes(app, hostile_job, workflow_job)
    finally:
        await link.stop()  # its status cache holds Redis connections


async def _walk_the_panes(app: ConsoleApp, hostile_job: int, workflow_job: int) -> None:
    async with app.run_test(size=(200, 60)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await settle(app, pilot)
        jobs_pane = screen_text(app)
        assert "[bold]B[/bold]" in jobs_pane and "\x1b" not in jobs_pane
        assert links_drawn(app) == []

        assert app.query_one("#jobs-table", KeyedTable).select_key(hostile_job)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job)
        await pilot.pause()
        detail = screen_text(app)
        assert_literal(detail, "job detail")
        assert "Err[or]" in detail
        assert links_drawn(app) == []

        await pilot.press("escape")
        await pilot.press("5")
        await settle(app, pilot)
        failures = screen_text(app)
        assert "[bold]B[/bold]" in failures and "\x1b" not in failures
        assert links_drawn(app) == []

        await pilot.press("2")
        await settle(app, pilot)
        assert app.query_one("#jobs-table", KeyedTable).select_key(workflow_job)
        await pilot.press("g")
        await settle(app, pilot)
        graph = screen_text(app)
        assert "[bold]B[/bold]" in graph and "\x1b" not in graph, graph
        assert links_drawn(app) == []


@pytest.mark.parametrize(
    "argv",
    [["job", "{id}"], ["jobs"], ["status"], ["jobs", "--text", "\x1b[31m"]],
    ids=" ".join,
)
async def test_cli_prints_job_text_literally(cli_env, monkeypatch, capsys, hostile_job, argv):
    for key, value in cli_env.items():
        if key.startswith("QUEUECONSOLE_"):
            monkeypatch.setenv(key, value)
    code, out, err = await run_cli(capsys, *(a.format(id=hostile_job) for a in argv))
    assert code == 0, err
    for ch in RAW_CONTROLS:
        assert ch not in out + err, f"raw {ch!r} from {argv}"
    if argv[0] == "job":
        assert_literal(out, "queueconsole job")


@pytest.mark.parametrize("argv", [["job", "{id}", "--json"], ["jobs", "--json"]], ids=" ".join)
async def test_cli_json_keeps_the_exact_text_escaped(
    cli_env, monkeypatch, capsys, hostile_job, argv
):
    for key, value in cli_env.items():
        if key.startswith("QUEUECONSOLE_"):
            monkeypatch.setenv(key, value)
    code, out, err = await run_cli(capsys, *(a.format(id=hostile_job) for a in argv))
    assert code == 0, err
    for ch in RAW_CONTROLS:
        assert ch not in out, f"raw {ch!r} in JSON from {argv}"
    doc = json.loads(out)
    if argv[0] == "job":
        assert doc["payload"] == {"m": HOSTILE}
        assert doc["error"]["message"] == f"msg {HOSTILE}"
        assert doc["logs"][0]["message"] == f"log {HOSTILE}"
    else:
        assert any(j.get("error") == f"msg {HOSTILE}" for j in doc), doc
