"""Event-stream lag: a transition committed → its event received over SSE.

While about ``--rate`` jobs/s (``demo.noop``, one submit at a time from
concurrent callers) run through an engine with ``--workers`` local workers, one
client follows ``GET /v1/events`` on an API server in its own process (the
events router alone, on uvicorn). Two figures, p50/p99/max in milliseconds:

- **submit → event**: from ``Client.submit`` returning (its commit is durable) to
  the job's first event reaching the client. Negative when the event arrived
  before the caller's await resumed.
- **every transition**: from the event's ``at`` (the writing transaction's start,
  so an upper bound of commit time) to its arrival, over every transition (submit,
  claim, completion).

    python -m bench.http_events [--seconds 10] [--rate 1000] [--workers 2]

The lead's ``http`` bench section calls :func:`measure` and prints its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from bench.common import print_table, scratch_database
from bench.harness import percentile, python_env
from engine.config import Settings, load_settings, to_environ
from engine.runtime.engine import Engine, EngineOptions
from engine.runtime.wiring import open_client
from engine.worker.registry import with_demo_jobs

CALLERS = 32  # concurrent submitters (one submit at a time each)
WARMUP_S = 2.0  # seconds of load before lags are recorded
DRAIN_S = 60.0  # longest wait for the last jobs' events after the load stops
TARGET_P99_MS = 50.0  # the target for stream lag


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """``bench.http_events --serve`` in a child process; its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = python_env(to_environ(settings))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.http_events", "--serve", str(port), env=env
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


def serve(port: int) -> None:
    """The events router alone on uvicorn (child process)."""
    import uvicorn
    from fastapi import FastAPI

    from queueconsole.api.events import event_feed_lifespan, events_router

    settings = load_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with event_feed_lifespan(app, settings):
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(events_router())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)


class Follower:
    """Reads the stream and notes when each event arrived."""

    def __init__(self) -> None:
        self.first_seen: dict[int, float] = {}  # job id -> arrival of its first event
        self.transition_lags: list[float] = []  # ms, events whose `at` is past the warm-up
        self.completed: set[int] = set()
        self.count = 0
        self.record_after = float("inf")
        self.connected = asyncio.Event()

    async def run(self, url: str) -> None:
        async with (
            httpx.AsyncClient(base_url=url, timeout=None) as http,
            http.stream("GET", "/v1/events") as response,
        ):
            async for line in response.aiter_lines():
                now = time.time()
                if line.startswith(": connected"):
                    self.connected.set()
                if not line.startswith("data: "):
                    continue
                e = json.loads(line[6:])
                self.count += 1
                self.first_seen.setdefault(e["job_id"], now)
                at = datetime.fromisoformat(e["at"]).timestamp()
                if at >= self.record_after:
                    self.transition_lags.append((now - at) * 1000.0)
                if e["to"] == "completed":
                    self.completed.add(e["job_id"])


async def produce(
    client: Any, rate: float, seconds: float, commits: dict[int, float]
) -> tuple[list[int], float]:
    """Submit ``rate`` jobs/s for ``seconds``; job ids and the rate achieved."""
    started = time.monotonic()
    total = int(rate * seconds)
    slots = iter(range(total))
    ids: list[int] = []

    async def caller() -> None:
        for i in slots:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            job = await client.submit("demo.noop")
            commits[job.id] = time.time()
            ids.append(job.id)

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return ids, len(ids) / (time.monotonic() - started)


async def measure(seconds: float = 10.0, rate: float = 1000.0, workers: int = 2) -> dict[str, Any]:
    """Run the load and the follower; the figures as a dict."""
    async with scratch_database("events") as base:
        settings = with_demo_jobs(base)
        engine = Engine(settings, EngineOptions(workers={"default": workers}))
        await engine.start()
        try:
            async with api_server(settings) as url, open_client(settings) as client:
                follower = Follower()
                reader = asyncio.create_task(follower.run(url))
                await asyncio.wait_for(follower.connected.wait(), 30)
                commits: dict[int, float] = {}
                follower.record_after = time.time() + WARMUP_S
                ids, achieved = await produce(client, rate, seconds + WARMUP_S, commits)
                for _ in range(int(DRAIN_S / 0.1)):
                    if set(ids) <= follower.completed:
                        break
                    await asyncio.sleep(0.1)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await reader
        finally:
            await engine.stop()
    recorded = [i for i in ids if commits[i] >= follower.record_after]
    submit_lags = [
        (follower.first_seen[i] - commits[i]) * 1000.0 for i in recorded if i in follower.first_seen
    ]
    return {
        "rate_target": rate,
        "rate_submitted": achieved,
        "workers": workers,
        "jobs": len(ids),
        "events": follower.count,
        "jobs_unseen": len(set(ids) - set(follower.first_seen)),
        "jobs_not_completed": len(set(ids) - follower.completed),
        "submit_to_event_ms": _stats(submit_lags),
        "transition_ms": _stats(follower.transition_lags),
    }


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def rows(result: dict[str, Any]) -> list[list[object]]:
    """Table rows for :func:`bench.common.print_table` (headers: :data:`HEADERS`)."""
    out: list[list[object]] = []
    for name, key in (
        ("submit → event", "submit_to_event_ms"),
        ("every transition", "transition_ms"),
    ):
        s = result[key]
        out.append(
            [name, s["n"], f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}",
             "yes" if s["p99"] < TARGET_P99_MS else "no"]
        )  # fmt: skip
    return out


HEADERS = ["stream lag", "events", "p50 ms", "p99 ms", "max ms", f"p99 < {TARGET_P99_MS:g} ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_events", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured load (s)")
    parser.add_argument("--rate", type=float, default=1000.0, help="jobs submitted per second")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    result = asyncio.run(measure(args.seconds, args.rate, args.workers))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['jobs']} jobs at {result['rate_submitted']:.0f}/s submitted "
        f"(target {args.rate:g}), {args.workers} workers, {result['events']} events streamed; "
        f"{result['jobs_unseen']} jobs never seen, {result['jobs_not_completed']} not completed"
    )
    print_table(HEADERS, rows(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
