"""The DAG pane with nothing picked opens on a workflow worth watching, named as submitted."""

from __future__ import annotations

from engine.specs import JobSpec
from queueconsole.console.panes.dag import DagPane
from tests.console.conftest import screen_text, settle, until


def etl(prefix: str) -> list[JobSpec]:
    return [
        JobSpec("etl.step", ref=f"{prefix}-extract"),
        JobSpec("etl.step", ref=f"{prefix}-load", depends_on=[f"{prefix}-extract"]),
    ]


async def show_dag(app, pilot) -> DagPane:
    await app.refresh_now()
    await pilot.press("3")
    await settle(app, pilot)
    pane = app.query_one("#dag", DagPane)
    await app.refresh_now()
    await settle(app, pilot)
    return pane


async def test_with_no_workflow_the_pane_says_how_to_get_one(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await show_dag(app, pilot)
        assert "no workflow yet" in screen_text(app)


async def test_opens_on_the_newest_workflow_with_live_jobs_else_the_newest(client, make_app):
    live = await client.submit_workflow(etl("old"), name="nightly import")
    done = await client.submit_workflow(etl("new"), name="finished run")
    for job_id in done.ids.values():
        await client.cancel(job_id)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await show_dag(app, pilot)
        text = screen_text(app)
        assert f"workflow {live.workflow_id} nightly import" in text
        # Boxes carry the workflow's own names, with the type below them.
        assert "old-extract" in text and "old-load" in text and "etl.step" in text
        assert "new-extract" not in text
        # r/c act on a job of the workflow shown, as they do after g.
        assert app.selection().job_id in set(live.ids.values())

    for job_id in live.ids.values():
        await client.cancel(job_id)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await show_dag(app, pilot)
        await until(pilot, lambda: "new-extract" in screen_text(app))
        assert f"workflow {done.workflow_id} finished run" in screen_text(app)
