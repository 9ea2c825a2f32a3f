"""The Workers pane shows what a worker's running jobs requested of its capacity,
beside what it measures (rss, cpu%)."""

from __future__ import annotations

from engine.db.database import Database
from engine.snapshots import WorkerBeat
from engine.store import workers as store
from tests.console.conftest import screen_text, settle, until


async def test_workers_pane_shows_requested_of_capacity_for_cpu_and_memory(
    client, db: Database, make_app
) -> None:
    beat = WorkerBeat(
        "w-big",
        "host-r",
        4242,
        ("default",),
        state="busy",
        max_memory_mb=1000,
        cpus=2.0,
        cpu_requested=1.5,
        memory_requested_mb=400,
        rss_bytes=80 * 2**20,
    )
    async with db.transaction() as conn:
        await store.register_worker(conn, beat)
        assert await store.heartbeat(conn, beat.worker_id, beat)
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        await settle(app, pilot)
        await app.refresh_now(record=False)
        await until(pilot, lambda: "w-big" in screen_text(app))
        await until(pilot, lambda: "1.5/2" in screen_text(app))
        screen = screen_text(app)
    header = next(line for line in screen.splitlines() if "req/cap" in line)
    row = next(line for line in screen.splitlines() if "w-big" in line)
    assert "cpu req/cap" in header and "mem req/cap" in header and "rss" in header
    assert "1.5/2" in row and "400/1000M" in row and "80M" in row
