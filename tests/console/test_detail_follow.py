"""Job detail follows a running job's log like ``tail -f`` and stops when it ends.

A real engine runs ``test.gated`` (tests/support/gated_jobs.py): it logs a line, then
one more each time the test creates a gate file, and finishes after the last. The
screen must show each new line without a key press, say "following…" while the job
runs and "ended" once it has completed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.config import Settings
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from queueconsole.console.messages import OpenJob
from queueconsole.console.screens.job_detail import JobDetailScreen
from tests.console.conftest import healthy, screen_text, until
from tests.support.runtime import isolated, running_engine, wait_for

pytestmark = pytest.mark.slow

GATED = "tests.support.gated_jobs"


def with_gated_jobs(migrated: Settings) -> Settings:
    settings = isolated(migrated)
    return settings.evolve(job_modules=(*settings.job_modules, GATED))


async def test_the_detail_of_a_running_job_shows_new_log_lines_until_it_ends(
    migrated, db, tmp_path
):
    settings = with_gated_jobs(migrated)
    gates = [tmp_path / "one", tmp_path / "two"]
    async with running_engine(settings, workers=1) as (_, client):
        job = await client.submit("test.gated", {"gates": [str(g) for g in gates]})
        await wait_for(
            db, "SELECT count(*) FROM job_logs WHERE job_id = :id", {"id": job.id}
        )  # running, and its first line written while it runs
        link = AttachedLink(settings, client, probe=healthy, use_dashboard=False)
        app = ConsoleApp(link, refresh_s=None)  # no timer: only the detail's own follow
        try:
            async with app.run_test(size=(100, 60)) as pilot:
                app.post_message(OpenJob(job.id))
                await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
                await until(pilot, lambda: "line 0" in screen_text(app), tries=1500)
                on_screen = screen_text(app)
                assert "following…" in on_screen and "ended" not in on_screen
                gates[0].touch()
                await until(pilot, lambda: "line 1" in screen_text(app), tries=1500)
                assert "following…" in screen_text(app)
                gates[1].touch()
                await until(pilot, lambda: "line 2" in screen_text(app), tries=1500)
                await until(pilot, lambda: "ended" in screen_text(app), tries=1500)
                on_screen = screen_text(app)
                assert "following…" not in on_screen
                assert "completed" in on_screen
                screen = app.screen
                assert isinstance(screen, JobDetailScreen)
                await until(pilot, lambda: not screen.is_following)  # the follow stopped
        finally:
            await link.stop()
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT message FROM job_logs WHERE job_id = :id ORDER BY id"), {"id": job.id}
        )
        # written while it ran and at its end: every line once, in order
        assert [r.message for r in rows] == ["line 0", "line 1", "line 2"]
