"""The ``:`` command line: what it understands, completes and remembers, and what it does."""

from __future__ import annotations

import pytest

from engine.specs import JobSpec
from queueconsole.console.command_line import Command, CommandError, History, complete, parse
from queueconsole.console.panes.jobs import JobsPane
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.widgets.command_line import CommandLine
from tests.console.conftest import notifications, screen_text, settle, until


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("123", Command("job", "123")),
        (":job 123", Command("job", "123")),
        ("workflow 7", Command("workflow", "7")),
        ("queue mail", Command("queue", "mail")),
        ("tenant acme", Command("tenant", "acme")),
        ("state FAILED", Command("state", "failed")),
        ("type mail.send", Command("type", "mail.send")),
        ("failures", Command("pane", "failures")),
        ("q", Command("quit")),
    ],
)
def test_parse_understands_each_verb(typed: str, command: Command) -> None:
    assert parse(typed) == command


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "type a command"),
        ("frobnicate", "unknown command 'frobnicate'"),
        ("job abc", "give a number"),
        ("job", "takes one argument"),
        ("state sleepy", "unknown state 'sleepy'"),
        ("jobs extra", "takes nothing after it"),
        ("99999999999999999999", "unknown command"),
    ],
)
def test_parse_names_what_was_wrong(typed: str, says: str) -> None:
    with pytest.raises(CommandError, match=says):
        parse(typed)


def test_tab_completes_verbs_queues_and_states_as_far_as_unambiguous() -> None:
    assert complete("wo") == "work"  # workflow and workers
    assert complete("workf") == "workflow "
    assert complete("j") == "job"  # job and jobs: their common part
    assert complete("queue ma", ["mail", "maps", "default"]) == "queue ma"
    assert complete("queue mai", ["mail", "maps", "default"]) == "queue mail"
    assert complete("state fa") == "state failed"
    assert complete("zzz") == "zzz"


def test_history_walks_like_a_shell() -> None:
    history = History(size=3)
    for line in ("job 1", "job 2", "job 2", "queue mail", "jobs"):
        history.add(line)
    assert [history.older(), history.older(), history.older(), history.older()] == [
        "jobs",
        "queue mail",
        "job 2",
        None,
    ]
    assert history.newer() == "queue mail"
    assert history.newer() == "jobs"
    assert history.newer() == ""


async def type_command(app, pilot, text: str) -> None:
    await pilot.press("colon")
    await until(pilot, lambda: app.query_one(CommandLine).is_open)
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")
    await settle(app, pilot)


async def test_colon_job_opens_the_job(client, make_app):
    job = await client.submit("demo.noop", {"to": "x"})
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await type_command(app, pilot, f"job {job.id}")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await until(pilot, lambda: "demo.noop" in screen_text(app))


@pytest.mark.parametrize("field", ["queue", "tenant"])
async def test_colon_queue_or_tenant_filters_the_jobs_pane(client, make_app, field):
    await client.add_tenant("mail")
    mail = await client.submit("demo.noop", **{field: "mail"})
    other = await client.submit("demo.noop", queue="default")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_now()
        await type_command(app, pilot, f"{field} mail")
        await app.refresh_now()
        await settle(app, pilot)
        pane = app.query_one("#jobs", JobsPane)
        assert app.query_one("#panes").current == "jobs"
        assert pane.filter_text == f"{field}:mail"
        rows = pane.query_one("#jobs-table").row_keys
        assert mail.id in rows and other.id not in rows


async def test_colon_workflow_shows_its_graph_and_an_unknown_one_says_so(client, make_app):
    flow = await client.submit_workflow(
        [JobSpec("demo.noop", ref="first"), JobSpec("demo.noop", ref="then", depends_on=["first"])],
        name="pair",
    )
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await type_command(app, pilot, f"workflow {flow.workflow_id}")
        await until(pilot, lambda: app.query_one("#panes").current == "dag")
        await app.refresh_now()
        await until(pilot, lambda: f"workflow {flow.workflow_id} pair" in screen_text(app))
        await type_command(app, pilot, "workflow 999999")
        await until(pilot, lambda: any("no workflow 999999" in n for n in notifications(app)))


async def test_a_bad_command_keeps_the_line_open_and_history_recalls_the_last(client, make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await type_command(app, pilot, "jobs")
        await type_command(app, pilot, "nonsense")
        line = app.query_one(CommandLine)
        assert line.is_open
        assert any("unknown command 'nonsense'" in n for n in notifications(app))
        await pilot.press("escape")
        assert not line.is_open
        await pilot.press("colon")
        await pilot.press("up")
        assert line.value == "jobs"  # the bad one was never run, so never remembered
        await pilot.press("escape")
        await pilot.press("colon")
        for char in "workf":
            await pilot.press(char)
        await pilot.press("tab")
        assert line.value == "workflow "
