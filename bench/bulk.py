"""A bulk action from the console on 100,000 matching jobs: its time, the UI's frame gaps
while it runs, and the console's memory (it must never load the jobs it acts on).

Fills a scratch database with ``--jobs`` queued jobs of one type (and a few others the
filter must leave alone), then runs the console headless (``App.run_test``) on it, as
production does (the dashboard read API, a refresh every second, the client with its
after-commit hooks): Jobs pane, filter
``type:bench.bulk``, ``B``, ``c`` (cancel) or ``r`` (retry, after cancelling them first
in the database), confirm. Measured:

- total: from the confirming key to the outcome's notification;
- frame gaps: a 50 ms interval timer in the app records the time between its calls
  while the bulk runs; a long gap is a moment the UI could not draw or read keys
  (max, p99, median; the ideal is 50 ms);
- message latency: each tick also posts a callback to the app's message queue and
  records how long it waited to run (what a key press waits before it is handled);
- keys: pane switches (``1``, ``2``) pressed while the bulk runs, each timed from the
  key to the pane on screen (Textual's pilot also waits for the app to go idle, so
  this includes the redraw and the refresh the switch starts), against the same keys
  pressed before the bulk;
- memory: the process's resident memory before the console opened and its peak while
  the bulk ran, and how many rows the Jobs table held (one page at most).

    python -m bench.bulk [--jobs 100000] [--action cancel|retry] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.common import bench_settings
from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings
from engine.db.migrate import drop_database, migrate
from engine.runtime.wiring import open_client
from engine.specs import JobSpec

JOB_TYPE = "bench.bulk"
SUBMIT_BATCH = 5_000  # jobs per submit_many while filling the database
TICK_S = 0.05  # seconds between the frame-gap timer's calls
SIZE = (120, 36)  # terminal cells the headless console lays out
MB = 1024 * 1024


@dataclass
class FrameGaps:
    """Intervals between the calls of a :data:`TICK_S` timer, and peak RSS sampled there."""

    gaps_s: list[float] = field(default_factory=list)
    message_s: list[float] = field(default_factory=list)
    """From posting a callback to the app's message queue to its run: how long a key
    would wait before the app even looks at it."""
    peak_rss: int = 0
    app: Any = None
    _last: float | None = None
    _me: psutil.Process = field(default_factory=psutil.Process)

    def tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps_s.append(now - self._last)
        self._last = now
        if self.app is not None:
            self.app.call_later(self._handled, now)
        if len(self.gaps_s) % 10 == 0:  # RSS every half second: psutil costs a syscall
            self.peak_rss = max(self.peak_rss, self._me.memory_info().rss)

    def _handled(self, posted: float) -> None:
        self.message_s.append(time.perf_counter() - posted)

    def summary(self) -> dict[str, float]:
        gaps = sorted(self.gaps_s) or [0.0]
        waits = sorted(self.message_s) or [0.0]
        return {
            "ticks": float(len(self.gaps_s)),
            "max_ms": gaps[-1] * 1000,
            "p99_ms": _p99(gaps) * 1000,
            "median_ms": statistics.median(gaps) * 1000,
            "message_max_ms": waits[-1] * 1000,
            "message_p99_ms": _p99(waits) * 1000,
            "message_median_ms": statistics.median(waits) * 1000,
        }


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def fill(client: Client, n: int) -> float:
    """``n`` queued jobs of :data:`JOB_TYPE` and 10 of another type; returns seconds."""
    started = time.perf_counter()
    for start in range(0, n, SUBMIT_BATCH):
        count = min(SUBMIT_BATCH, n - start)
        await client.submit_many([JobSpec(JOB_TYPE, {"n": start + i}) for i in range(count)])
    await client.submit_many([JobSpec("bench.other", {"i": i}) for i in range(10)])
    return time.perf_counter() - started


async def until(pilot: Any, condition: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the console did not get there within {limit_s:g} s")
        await pilot.pause(0.02)


async def switch_panes(app: Any, pilot: Any, stop: Callable[[], bool]) -> list[float]:
    """Switch to the Overview and back three times, a second apart (until ``stop``);
    seconds from each key to its pane on screen."""
    took: list[float] = []
    await pilot.pause(1.0)
    for key, pane in (("1", "overview"), ("2", "jobs")) * 3:
        if stop():
            break
        pressed = time.perf_counter()
        await pilot.press(key)
        await until(pilot, lambda pane=pane: app.active_pane.id == pane, 60)
        took.append(time.perf_counter() - pressed)
        await pilot.pause(1.0)
    return took


async def run_console(settings: Settings, client: Client, action: str, n: int) -> dict[str, Any]:
    """The console headless on ``settings``; the bulk through its keys; the figures."""
    from queueconsole.console.app import ConsoleApp
    from queueconsole.console.link import AttachedLink
    from queueconsole.console.screens.choice import ChoiceScreen
    from queueconsole.console.screens.confirm import ConfirmScreen
    from queueconsole.console.widgets.keyed_table import KeyedTable

    me = psutil.Process()
    rss_before = me.memory_info().rss
    link = AttachedLink(settings, client)
    app = ConsoleApp(link)  # refreshes every second, as in production
    gaps = FrameGaps(app=app)
    past = "cancelled" if action == "cancel" else "retried"
    outcome = f"{past} {n:,} jobs"
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.press("slash")
            for char in f"type:{JOB_TYPE}":
                await pilot.press(char)
            await pilot.press("enter")
            await pilot.pause(0.5)
            idle_s = await switch_panes(app, pilot, lambda: False)  # the same keys, no bulk
            await pilot.press("B")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), 30)
            await pilot.press("c" if action == "cancel" else "r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 600)
            timer = app.set_interval(TICK_S, gaps.tick, name="frame-gaps")
            started = time.perf_counter()
            await pilot.press("y")

            def finished() -> bool:
                return any(outcome in x.message for x in app._notifications)

            key_s = await switch_panes(app, pilot, finished)
            await until(pilot, finished, 3600)
            total_s = time.perf_counter() - started
            timer.stop()
            rows = len(app.query_one("#jobs-table", KeyedTable).row_keys)
    finally:
        await link.stop()
    return {
        "total_s": total_s,
        "jobs_per_s": n / total_s,
        "gaps": gaps.summary(),
        "rss_before_mb": rss_before / MB,
        "rss_peak_mb": max(gaps.peak_rss, rss_before) / MB,
        "table_rows": rows,
        "key_ms": [k * 1000 for k in key_s],
        "idle_key_ms": [k * 1000 for k in idle_s],
    }


async def cancel_all(client: Client) -> None:
    """For ``--action retry``: cancel the filled jobs first (retry takes cancelled ones)."""
    from engine.snapshots import JobFilter

    await client.bulk("cancel", flt=JobFilter(type=JOB_TYPE))


async def main_async(args: argparse.Namespace) -> None:
    settings = bench_settings("bulk")
    await migrate(settings)
    try:
        async with Client(settings) as client:
            fill_s = await fill(client, args.jobs)
            print(f"filled {args.jobs:,} jobs in {fill_s:.1f} s")
            if args.action == "retry":
                await cancel_all(client)
        # The console's own client, as `queueconsole --attach` opens it: after each
        # committed batch its hooks update the status cache (and publish what a retry
        # made runnable), so their cost is part of the figure.
        async with open_client(settings) as client:
            figures = await run_console(settings, client, args.action, args.jobs)
            counts = await client.queue_counts()
    finally:
        if not args.keep:
            with contextlib.suppress(Exception):
                await drop_database(settings)
            with contextlib.suppress(Exception):  # a retry publishes to the bench's queue
                await delete_namespace(settings, Names(settings.namespace), ["default"])
    g = figures["gaps"]
    print(f"bulk {args.action} of {args.jobs:,} jobs from the console (B, confirm):")
    print(f"  total            {figures['total_s']:.1f} s ({figures['jobs_per_s']:,.0f} jobs/s)")
    print(
        f"  frame gaps       max {g['max_ms']:.0f} ms · p99 {g['p99_ms']:.0f} ms · "
        f"median {g['median_ms']:.0f} ms over {g['ticks']:.0f} ticks of {TICK_S * 1000:.0f} ms"
    )
    print(
        f"  message latency  max {g['message_max_ms']:.0f} ms · p99 {g['message_p99_ms']:.0f} ms"
        f" · median {g['message_median_ms']:.1f} ms (a callback posted to the app's queue)"
    )
    print(
        f"  memory (RSS)     {figures['rss_before_mb']:.0f} MB before the console · "
        f"peak {figures['rss_peak_mb']:.0f} MB while the bulk ran"
    )
    keys = figures["key_ms"]
    if keys:
        shown = ", ".join(f"{k:.0f}" for k in keys)
        idle = ", ".join(f"{k:.0f}" for k in figures["idle_key_ms"])
        print(f"  keys during it   {len(keys)} pane switches handled in {shown} ms")
        print(f"  keys before it   (no bulk running) {idle} ms")
    print(f"  jobs table rows  {figures['table_rows']} (one page; the jobs are never loaded)")
    for c in counts:
        print(f"  queue {c.queue}: {dict((s.value, k) for s, k in c.counts.items() if k)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--action", choices=("cancel", "retry"), default="cancel")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
