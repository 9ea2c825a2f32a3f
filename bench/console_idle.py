"""What the console costs between refreshes: CPU of its process at idle, against a peer.

Loads N jobs (1,000,000 by default, with ``bench.load_million``) into a scratch
database, then runs, each in its own process and headless:

- the console with its embedded engine and 8 idle local workers (on a queue
  no job goes to; the workers are child processes and not counted: the figure
  is the console process, which also runs the engine's services), on the
  Overview pane (plotext charts, queue table, health, the dashboard read API
  every second) and on the Jobs pane (a keyset page re-read every second);
- a peer: an idle Textual app with one line of text and a footer, no data.

Each process measures its own ``psutil`` CPU time over ``--seconds`` after a
warm-up and prints it as a percentage of one core.

    python -m bench.console_idle [--jobs 1000000] [--seconds 20] [--warmup 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import psutil

from bench.common import bench_settings
from bench.load_million import load_jobs, vacuum_analyze
from engine.config import Settings, load_settings
from engine.db.database import Database
from engine.db.migrate import drop_database, migrate

SIZE = (120, 36)  # terminal cells the headless apps lay out
WORKERS = 8  # local workers of the embedded engine, as in the target
IDLE_QUEUE = "bench-idle"  # the workers' queue: no job is ever sent there, so they idle


async def measure(seconds: float) -> dict[str, float]:
    """CPU seconds this process used over ``seconds`` of wall time (asyncio keeps running)."""
    me = psutil.Process()
    before = me.cpu_times()
    started = time.monotonic()
    await asyncio.sleep(seconds)
    after = me.cpu_times()
    wall = time.monotonic() - started
    cpu = (after.user - before.user) + (after.system - before.system)
    return {"cpu_s": cpu, "wall_s": wall, "percent": 100.0 * cpu / wall}


async def child_console(settings: Settings, pane: str, warmup: float, seconds: float) -> None:
    """Run the console embedded, headless; print the measurement as JSON."""
    from engine.runtime.engine import Engine, EngineOptions
    from queueconsole.console.app import ConsoleApp
    from queueconsole.console.link import EmbeddedLink, EngineLink

    link = EmbeddedLink(Engine(settings, EngineOptions(workers={IDLE_QUEUE: WORKERS})))
    result: dict[str, Any] = {}

    async def bench(_: EngineLink) -> None:
        app.action_show_pane(pane)
        await asyncio.sleep(warmup)
        result.update(await measure(seconds))
        result["workers"] = len(link.engine.supervisor.pids())
        app.action_quit_console()

    app = ConsoleApp(link, background=[bench])
    await app.run_async(headless=True, size=SIZE)
    print(json.dumps(result))


async def child_peer(warmup: float, seconds: float) -> None:
    """An idle Textual app: the floor any Textual console pays."""
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Static

    result: dict[str, Any] = {}

    class Idle(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("idle")
            yield Footer()

        def on_mount(self) -> None:
            self.run_worker(self.bench())

        async def bench(self) -> None:
            await asyncio.sleep(warmup)
            result.update(await measure(seconds))
            self.exit()

    await Idle().run_async(headless=True, size=SIZE)
    print(json.dumps(result))


def run_child(args: list[str]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and parse its last output line."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.console_idle", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def prepare(jobs: int) -> Settings:
    """A scratch database with ``jobs`` jobs, analysed."""
    settings = bench_settings("console_idle")
    await migrate(settings)
    db = Database(settings)
    try:
        started = time.perf_counter()
        async with db.transaction() as conn:
            await load_jobs(conn, jobs)
        await vacuum_analyze(db)
        print(f"loaded {jobs:,} jobs in {time.perf_counter() - started:.1f} s")
    finally:
        await db.close()
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--child", choices=("console", "peer"), help=argparse.SUPPRESS)
    parser.add_argument("--pane", default="overview", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "console":
        settings = load_settings().evolve(database_url=args.database_url, namespace=args.namespace)
        asyncio.run(child_console(settings, args.pane, args.warmup, args.seconds))
        return
    if args.child == "peer":
        asyncio.run(child_peer(args.warmup, args.seconds))
        return

    settings = asyncio.run(prepare(args.jobs))
    timing = ["--warmup", str(args.warmup), "--seconds", str(args.seconds)]
    where = ["--database-url", settings.database_url, "--namespace", settings.namespace]
    try:
        rows = []
        for pane in ("overview", "jobs"):
            r = run_child(["--child", "console", "--pane", pane, *where, *timing])
            rows.append((f"console, {pane} pane, {r.get('workers', 0)} workers", r))
        rows.append(("peer: idle Textual app, no data", run_child(["--child", "peer", *timing])))
    finally:
        asyncio.run(drop_database(settings))
    print(f"\nidle CPU over {args.seconds:g} s, {args.jobs:,} jobs stored (% of one core)")
    for label, r in rows:
        print(f"  {label:<44} {r['percent']:5.1f}%  ({r['cpu_s']:.2f} s CPU)")


if __name__ == "__main__":
    main()
