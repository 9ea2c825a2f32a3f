"""Render every console pane on the demo workload to ``screenshots/*.svg``.

Runs the real thing: a fresh database next to the configured one
(``<name>_screenshots``, namespace ``qcshots``), the embedded engine with the
demo's workers, the demo workload, and the console headless at 120x36 (the
Overview also at 80x24). It lets the work run for a while so the charts have
a history and jobs are in every state, takes one SVG per pane, then quits,
which drains the workers.

Tracebacks on the job detail are shown with their file paths relative to the
``sys.path`` entry they were imported from (``engine/worker/execution.py``), so
a screenshot never carries the absolute paths of the machine that rendered it.

    .venv/bin/python scripts/screenshots.py [--seconds 25] [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import sysconfig
from dataclasses import replace
from pathlib import Path

from engine.config import Settings, load_settings
from engine.db.migrate import drop_database, migrate
from engine.snapshots import JobDetail, JobFilter
from engine.states import State
from engine.worker.registry import with_demo_jobs
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import EngineLink, open_link
from queueconsole.console.messages import OpenJob
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.source import DataSource
from queueconsole.demo.workload import DEMO_WORKERS, submit_initial, trickle

SIZE = (120, 36)
SMALL = (80, 24)
NAMESPACE = "qcshots"


def screenshot_settings(base: Settings) -> Settings:
    """A database and namespace of their own, so the shots never touch real data, and
    workers that run the demo workload's ``demo.*`` types."""
    url = base.database_url.rsplit("/", 1)[0] + f"/{base.database_name}_screenshots"
    return with_demo_jobs(base.evolve(database_url=url, namespace=NAMESPACE))


_FRAME_FILE = re.compile(r'File "(?P<path>/[^"]+)"')


def import_roots() -> list[str]:
    """Directories modules are imported from, longest first (``src/``, site-packages,
    the standard library): a traceback's paths start with one of them."""
    roots = {p for p in sys.path if p.startswith("/")}
    roots.update(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib"))
    roots.add(str(Path(__file__).resolve().parents[1] / "src"))
    return sorted((r.rstrip("/") + "/" for r in roots), key=len, reverse=True)


def neutral_paths(traceback: str, roots: list[str]) -> str:
    """``traceback`` with each frame's file relative to the root it was imported from."""

    def relative(match: re.Match[str]) -> str:
        path = match["path"]
        root = next((r for r in roots if path.startswith(r)), None)
        return f'File "{path[len(root) :]}"' if root else match.group()

    return _FRAME_FILE.sub(relative, traceback)


class NeutralSource(DataSource):
    """The console's data source, with job tracebacks shown by :func:`neutral_paths`."""

    roots = import_roots()

    async def job(self, job_id: int) -> JobDetail:
        job = await super().job(job_id)
        if job.error is None or not job.error.traceback:
            return job
        error = replace(job.error, traceback=neutral_paths(job.error.traceback, self.roots))
        return replace(job, error=error)


async def fresh_database(settings: Settings) -> None:
    """Drop and re-create the screenshot database, then migrate it."""
    await drop_database(settings)
    await migrate(settings)


async def wait_for(pilot: object, condition: object, seconds: float) -> None:
    """Let the app run until ``condition()`` holds or ``seconds`` pass."""
    for _ in range(int(seconds / 0.1)):
        if condition():  # type: ignore[operator]
            return
        await pilot.pause(0.1)  # type: ignore[attr-defined]


async def shoot(app: ConsoleApp, pilot: object, out: Path, name: str, *keys: str) -> None:
    """Press ``keys``, refresh, and save the screen as ``out/name.svg``."""
    for key in keys:
        await pilot.press(key)  # type: ignore[attr-defined]
    await app.refresh_now(record=False)
    for _ in range(3):
        await pilot.pause()  # type: ignore[attr-defined]
    save(out / f"{name}.svg", app.export_screenshot(title=f"queueconsole: {name}"))


def save(path: Path, svg: str) -> None:
    """Write one screenshot."""
    path.write_text(svg, encoding="utf-8")
    print(f"wrote {path}")


async def run(seconds: float, out: Path) -> None:
    settings = screenshot_settings(load_settings())
    await fresh_database(settings)
    link = await open_link(settings, workers=DEMO_WORKERS)

    async def workload(b: EngineLink) -> None:
        await submit_initial(b.client)
        await trickle(b.client)

    app = ConsoleApp(link, background=[workload])
    app.source = NeutralSource(link, clock=app.source.clock, history=app.source.history)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: link.started, 60)
        await pilot.pause(seconds)
        client = link.client
        await shoot(app, pilot, out, "overview")
        await pilot.resize_terminal(*SMALL)
        await shoot(app, pilot, out, "overview-80x24")
        await pilot.resize_terminal(*SIZE)
        await shoot(app, pilot, out, "jobs", "2")
        await shoot(app, pilot, out, "workers", "4")
        await shoot(app, pilot, out, "failures", "5")
        blocked = (await client.jobs(JobFilter(state=State.BLOCKED), limit=1)).items
        anchor = blocked or (await client.jobs(JobFilter(type="demo.cpu"), limit=1)).items
        if anchor:
            app.show_dag(anchor[0].id, anchor[0].workflow_id)
            await pilot.pause(0.5)
            await shoot(app, pilot, out, "dag")
        failed = (await client.jobs(JobFilter(state=State.FAILED), limit=1)).items
        if failed:
            app.post_message(OpenJob(failed[0].id))
            await wait_for(
                pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job, 10
            )
            await shoot(app, pilot, out, "job-detail")
            await pilot.press("escape")
        await shoot(app, pilot, out, "help", "1", "question_mark")
        await pilot.press("escape")
        live = (await client.jobs(JobFilter(state=State.PENDING), limit=1)).items
        live = live or (await client.jobs(JobFilter(state=State.QUEUED), limit=1)).items
        if live:
            app.post_message(OpenJob(live[0].id))
            await wait_for(
                pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job, 10
            )
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10)
            await shoot(app, pilot, out, "confirm-cancel")
            await pilot.press("n", "escape")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.stopped_engine, 120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="let the demo run this long")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.seconds, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
