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
import tempfile
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
from engine.specs import JobSpec
from engine.worker.registry import with_demo_jobs

CALLERS = 8  # concurrent submitters
BATCH = 10  # jobs per submission: 1,000 jobs/s as 100 commits/s
WARMUP_S = 2.0  # seconds of load before lags are recorded
DRAIN_S = 60.0  # longest wait for the last jobs' events after the load stops
TARGET_P99_MS = 50.0  # the target for stream lag


@contextlib.asynccontextmanager
async def child(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[None]:
    """``python -m bench.http_events ARGS`` in a child process, terminated on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.http_events", *args, env=python_env(env or {})
    )
    try:
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """``bench.http_events --serve`` in a child process; its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    async with child("--serve", str(port), env=to_environ(settings)):
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"


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


def follow(url: str, path: str) -> None:
    """Follow the stream (child process, so the load's event loop does not delay it) and
    write one line per event: arrival time, job id, state reached, the event's ``at``."""

    async def run() -> None:
        with open(path, "w", buffering=1) as out:  # noqa: ASYNC230 (a local file, line by line)
            async with (
                httpx.AsyncClient(base_url=url, timeout=None) as http,
                http.stream("GET", "/v1/events") as response,
            ):
                async for line in response.aiter_lines():
                    now = time.time()
                    if line.startswith(": connected"):
                        out.write("connected\n")
                    elif line.startswith("data: "):
                        e = json.loads(line[6:])
                        at = datetime.fromisoformat(e["at"]).timestamp()
                        out.write(f"{now:.6f} {e['job_id']} {e['to']} {at:.6f}\n")

    asyncio.run(run())


class Follower:
    """What the following process wrote, read back."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.first_seen: dict[int, float] = {}  # job id -> arrival of its first event
        self.transitions: list[tuple[float, float]] = []  # (arrival, at) of every event
        self.completed: set[int] = set()
        self.connected = False
        self._offset = 0

    def read(self) -> None:
        """Take in the lines written since the last call."""
        with open(self.path) as f:
            f.seek(self._offset)
            chunk = f.read()
        whole = chunk[: chunk.rfind("\n") + 1]
        self._offset += len(whole)
        for line in whole.splitlines():
            if line == "connected":
                self.connected = True
                continue
            recv, job, to, at = line.split()
            job_id = int(job)
            self.first_seen.setdefault(job_id, float(recv))
            self.transitions.append((float(recv), float(at)))
            if to == "completed":
                self.completed.add(job_id)


async def produce(
    client: Any, rate: float, seconds: float, batch: int, commits: dict[int, float]
) -> tuple[list[int], float]:
    """Submit ``rate`` jobs/s for ``seconds`` in submissions of ``batch`` jobs; the job
    ids and the rate achieved."""
    started = time.monotonic()
    per_s = rate / batch
    slots = iter(range(int(per_s * seconds)))
    ids: list[int] = []
    spec = [JobSpec("demo.noop")] * batch

    async def caller() -> None:
        for i in slots:
            delay = started + i / per_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            jobs = await client.submit_many(spec)
            now = time.time()
            for job in jobs:
                commits[job.id] = now
                ids.append(job.id)

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return ids, len(ids) / (time.monotonic() - started)


async def measure(
    seconds: float = 10.0, rate: float = 1000.0, workers: int = 2, batch: int = BATCH
) -> dict[str, Any]:
    """Run the load and the follower; the figures as a dict."""
    async with scratch_database("events") as base:
        settings = with_demo_jobs(base)
        engine = Engine(settings, EngineOptions(workers={"default": workers}))
        await engine.start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                follower = Follower(os.path.join(tmp, "events.txt"))
                async with (
                    api_server(settings) as url,
                    child("--follow", url, follower.path),
                    open_client(settings) as client,
                ):
                    for _ in range(300):
                        with contextlib.suppress(FileNotFoundError):
                            follower.read()
                        if follower.connected:
                            break
                        await asyncio.sleep(0.1)
                    commits: dict[int, float] = {}
                    record_after = time.time() + WARMUP_S
                    ids, achieved = await produce(client, rate, seconds + WARMUP_S, batch, commits)
                    for _ in range(int(DRAIN_S / 0.2)):
                        follower.read()
                        if set(ids) <= follower.completed:
                            break
                        await asyncio.sleep(0.2)
        finally:
            await engine.stop()
    recorded = [i for i in ids if commits[i] >= record_after]
    submit_lags = [
        (follower.first_seen[i] - commits[i]) * 1000.0 for i in recorded if i in follower.first_seen
    ]
    transition_lags = [(r - at) * 1000.0 for r, at in follower.transitions if at >= record_after]
    return {
        "rate_target": rate,
        "rate_submitted": achieved,
        "workers": workers,
        "jobs": len(ids),
        "batch": batch,
        "events": len(follower.transitions),
        "jobs_unseen": len(set(ids) - set(follower.first_seen)),
        "jobs_not_completed": len(set(ids) - follower.completed),
        "submit_to_event_ms": _stats(submit_lags),
        "transition_ms": _stats(transition_lags),
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
    parser.add_argument("--batch", type=int, default=BATCH, help="jobs per submission")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--follow", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.follow:
        with contextlib.suppress(KeyboardInterrupt):
            follow(*args.follow)
        return 0
    result = asyncio.run(measure(args.seconds, args.rate, args.workers, args.batch))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['jobs']} jobs at {result['rate_submitted']:.0f}/s submitted "
        f"({args.batch} per submission) "
        f"(target {args.rate:g}), {args.workers} workers, {result['events']} events streamed; "
        f"{result['jobs_unseen']} jobs never seen, {result['jobs_not_completed']} not completed"
    )
    print_table(HEADERS, rows(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
