"""Submits per second over the HTTP API, against the in-process Client, in one run.

    python -m bench --only http [--http-n 5000] [--reps 3]

``queueconsole api`` runs as its own process (uvloop, httptools, a token of
scope ``submit``, access log off as at ``--log-level warning``) on the suite's
scratch database and vhost. Clients hold keep-alive connections and submit
``POST /v1/jobs`` one request at a time each:

- a lean asyncio HTTP/1.1 client (below), with 1 and with 32 connections: the
  server's cost, as little of the client's as possible; the 32 connections also
  against ``queueconsole api --workers 2`` (two processes on the port);
- httpx with 32 connections, what a Python service would likely use.

The same number of jobs is then submitted in this process with
``Client.submit``, one at a time and from 50 concurrent callers: what the HTTP
layer costs on top of the engine's own submit path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness import Proc, Processes, python_env
from engine.config import Settings

JOB = {"type": "bench.noop", "payload": {"n": 1}}
CONCURRENT_CLIENTS = 32  # the target: ≥ 2,000 submits/s with 32 clients
IN_PROCESS_CALLERS = 50
MULTI_WORKERS = 2  # `api --workers` of the second server: one process per core here
START_TIMEOUT_S = 60.0  # seconds the API process may take to answer /healthz
RUN_TIMEOUT_S = 300.0  # seconds one measurement may take


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client: one connection, one request at a time."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = host
        self.port = port
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` (JSON) and read the whole answer; (status, body)."""
        assert self._reader is not None and self._writer is not None
        self._writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1")
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)


async def _spread(n: int, workers: int, one: Callable[[], Awaitable[None]]) -> float:
    """Run ``one`` n times from ``workers`` concurrent loops; jobs/s."""
    left = n

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    started = time.perf_counter()
    async with asyncio.timeout(RUN_TIMEOUT_S):
        await asyncio.gather(*(loop() for _ in range(workers)))
    return n / (time.perf_counter() - started)


class HttpBench:
    """The API process and the measurements against it.

    Args:
        settings: the suite's scratch database, vhost and namespace.
        procs: the suite's processes (the API process is stopped with them).
        loop: the suite's event loop (the in-process client lives on it).
        workers: ``queueconsole api --workers``.
    """

    def __init__(
        self,
        settings: Settings,
        procs: Processes,
        loop: asyncio.AbstractEventLoop,
        *,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.procs = procs
        self.loop = loop
        self.workers = workers
        self.port = 0
        self.token = ""
        self._proc: Proc | None = None

    def start(self) -> None:
        """Create a token, start ``queueconsole api``, wait until it answers."""
        from engine.client import Client

        async def make_token() -> str:
            async with Client(self.settings) as client:
                name = f"bench-http-{self.workers}"
                return (await client.create_token(name, "submit")).secret

        self.token = self.loop.run_until_complete(make_token())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        env = python_env(
            {
                "QUEUECONSOLE_DATABASE_URL": self.settings.database_url,
                "QUEUECONSOLE_AMQP_URL": self.settings.amqp_url,
                "QUEUECONSOLE_REDIS_URL": self.settings.redis_url,
                "QUEUECONSOLE_NAMESPACE": self.settings.namespace,
            }
        )
        env.pop("QUEUECONSOLE_CONFIG", None)
        self._proc = self.procs.start(
            f"api-{self.workers}",
            [
                *(self.procs.python, "-m", "queueconsole", "api", "--port", str(self.port)),
                *("--workers", str(self.workers), "--log-level", "warning"),
            ],
            env,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                if self._proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise self._proc.failure("the API did not start") from None
                time.sleep(0.2)

    @property
    def url(self) -> str:
        """Where the API listens."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop the API process."""
        if self._proc is not None:
            self.procs.stop(self._proc)
            self._proc = None

    def lean(self, n: int, clients: int) -> dict[str, float]:
        """``n`` submits from ``clients`` lean keep-alive connections."""
        body = json.dumps(JOB).encode()

        async def run() -> float:
            conns = [LeanClient("127.0.0.1", self.port, self.token) for _ in range(clients)]
            for c in conns:
                await c.__aenter__()
            free: asyncio.Queue[LeanClient] = asyncio.Queue()
            for c in conns:
                free.put_nowait(c)

            async def one() -> None:
                c = await free.get()
                status, answer = await c.post("/v1/jobs", body)
                free.put_nowait(c)
                if status != 201:
                    raise RuntimeError(f"POST /v1/jobs answered {status}: {answer[:200]!r}")

            try:
                return await _spread(n, clients, one)
            finally:
                for c in conns:
                    await c.__aexit__()

        return {"rate": self.loop.run_until_complete(run())}

    def httpx(self, n: int, clients: int) -> dict[str, float]:
        """``n`` submits through one httpx client pooling ``clients`` connections."""
        import httpx

        async def run() -> float:
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            headers = {"Authorization": f"Bearer {self.token}"}
            async with httpx.AsyncClient(
                base_url=self.url, headers=headers, limits=limits, timeout=60
            ) as c:

                async def one() -> None:
                    r = await c.post("/v1/jobs", json=JOB)
                    if r.status_code != 201:
                        raise RuntimeError(f"POST /v1/jobs answered {r.status_code}: {r.text}")

                return await _spread(n, clients, one)

        return {"rate": self.loop.run_until_complete(run())}

    def in_process(self, n: int, callers: int) -> dict[str, float]:
        """``n`` ``Client.submit`` calls in this process from ``callers`` concurrent callers
        (the client ``open_client`` gives applications, publishing after each commit)."""
        from engine.runtime.wiring import open_client

        async def run() -> float:
            async with open_client(self.settings) as client:

                async def one() -> None:
                    await client.submit(str(JOB["type"]), dict(JOB["payload"]))  # type: ignore[call-overload]

                return await _spread(n, callers, one)

        return {"rate": self.loop.run_until_complete(run())}


def systems(
    bench: HttpBench | None, multi: HttpBench | None, n: int, ours: str
) -> list[tuple[str, str, Any, str | None]]:
    """The http section's rows as ``bench.suite.measure`` takes them; ``ours`` (the 32-client
    lean row) is what the others' ratio divides; ``multi`` serves with several processes."""
    missing = None if bench is not None else "n/a (the API did not start)"

    def run(fn: Callable[[], dict[str, float]]) -> Callable[[int], dict[str, float]] | None:
        return None if bench is None else (lambda _rep: fn())

    b = bench
    return [
        (
            ours,
            f"HTTP, {CONCURRENT_CLIENTS} keep-alive clients (lean asyncio); N={n:,}",
            run(lambda: b.lean(n, CONCURRENT_CLIENTS)) if b else None,
            missing,
        ),
        (
            "ours over HTTP",
            f"{CONCURRENT_CLIENTS} keep-alive clients, api --workers {MULTI_WORKERS}; N={n:,}",
            (lambda _rep: multi.lean(n, CONCURRENT_CLIENTS)) if multi is not None else None,
            None if multi is not None else "n/a (the API did not start)",
        ),
        (
            "ours over HTTP",
            f"1 keep-alive client (lean asyncio); N={n:,}",
            run(lambda: b.lean(n, 1)) if b else None,
            missing,
        ),
        (
            "ours over HTTP",
            f"{CONCURRENT_CLIENTS} keep-alive clients (httpx); N={n:,}",
            run(lambda: b.httpx(n, CONCURRENT_CLIENTS)) if b else None,
            missing,
        ),
        (
            "ours in-process",
            f"Client.submit, one at a time; N={n:,}",
            run(lambda: b.in_process(n, 1)) if b else None,
            missing,
        ),
        (
            "ours in-process",
            f"Client.submit, {IN_PROCESS_CALLERS} concurrent callers; N={n:,}",
            run(lambda: b.in_process(n, IN_PROCESS_CALLERS)) if b else None,
            missing,
        ),
    ]
