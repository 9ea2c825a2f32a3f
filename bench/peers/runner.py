"""A peer's side of each measurement, driven from the suite's process.

Mirrors :class:`bench.ours.Ours`: start the peer's own worker command, wait
until it consumes, run the peer's producer subprocess, then read from Redis
what the job bodies reported. Each run gets its own queue and keys, and
everything is stopped and deleted before the next system runs.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.harness import (
    BenchError,
    BrokerProbe,
    Proc,
    Processes,
    Vhost,
    command_seconds,
    console_script,
    delete_prefixed,
    percentile,
    python_env,
    redis_client,
    submit_latency,
    tree_memory,
    wait_for_consumers,
    wait_until,
)
from bench.peers import Peer, consumers_expected, worker_command
from bench.peers.body import LAST_MEMBER

READY_TIMEOUT_S = 60.0  # seconds for a peer's workers to start consuming
POLL_S = 0.02  # seconds between looks at the completion counter
SETTLE_S = 1.0  # seconds an idle worker sits before its memory is read


class PeerRun:
    """Runs one peer configuration.

    Args:
        peer: which configuration.
        procs: starts and stops every process.
        vhost: the run's private vhost (its URL goes to the peer).
        redis_url: where the job bodies report.
        redis_prefix: this suite run's Redis keys start with it.
    """

    def __init__(
        self, peer: Peer, procs: Processes, vhost: Vhost, redis_url: str, redis_prefix: str
    ) -> None:
        self.peer = peer
        self.procs = procs
        self.vhost = vhost
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.probe = BrokerProbe(vhost.url)
        self.redis = redis_client(redis_url)

    def _env(self, queue: str) -> dict[str, str]:
        return python_env(
            {
                "BENCH_PEER": self.peer.key,
                "BENCH_QUEUE": queue,
                "BENCH_AMQP_URL": self.vhost.url,
                "BENCH_REDIS_URL": self.redis_url,
            }
        )

    def _queue(self, what: str, rep: int) -> str:
        queue = f"{self.peer.key}-{what}-{rep}"
        self.vhost.forget_later(queues=[queue, f"{queue}.DQ", f"{queue}.XQ"], exchanges=[queue])
        return queue

    def _workers(self, queue: str, processes: int, *, threads: int | None = None) -> Proc:
        workers = self.procs.start(
            f"{self.peer.key}-workers",
            worker_command(self.peer, self.procs.python, processes, queue, threads=threads),
            self._env(queue),
        )
        wait_for_consumers(
            self.probe,
            queue,
            consumers_expected(self.peer, processes),
            timeout_s=READY_TIMEOUT_S,
            watch=[workers],
        )
        return workers

    def _produce(self, queue: str, mode: str, timeout_s: float, *args: str) -> dict[str, Any]:
        proc = self.procs.start(
            f"{self.peer.key}-producer",
            [
                self.procs.python,
                "-m",
                "bench.peers.produce",
                mode,
                "--key",
                self._key(queue),
                *args,
            ],
            self._env(queue),
            capture=True,
        )
        return self.procs.result(proc, timeout_s)

    def _key(self, queue: str) -> str:
        return f"{self.redis_prefix}{queue}"

    def _finish(self, queue: str, *workers: Proc) -> None:
        self.procs.stop(*workers)
        self.probe.delete([queue, f"{queue}.DQ", f"{queue}.XQ"])
        delete_prefixed(self.redis, self._key(queue))

    def e2e(self, rep: int, n: int, timeout_s: float) -> dict[str, float]:
        """n jobs published while 2 worker processes run: submit and completed jobs/s."""
        queue = self._queue("e2e", rep)
        key = self._key(queue)
        workers = self._workers(queue, 2)
        try:
            out = self._produce(queue, "e2e", timeout_s, "--n", str(n))
            wait_until(
                lambda: int(self.redis.get(key) or 0) >= n,
                timeout_s=timeout_s,
                interval_s=POLL_S,
                what=f"{n} {self.peer.key} jobs to complete",
                watch=[workers],
            )
            last = self.redis.zscore(f"{key}:last", LAST_MEMBER)
        finally:
            self._finish(queue, workers)
        if last is None:
            raise BenchError("no finish time recorded")
        return {
            "submit": n / (out["finished"] - out["started"]),
            "completed": n / (float(last) - out["started"]),
        }

    def latency(self, rep: int, rate: float, seconds: float) -> dict[str, float]:
        """Submit-to-start at a steady light rate with idle workers: p50 and p99 in ms."""
        queue = self._queue("latency", rep)
        key = self._key(queue)
        workers = self._workers(queue, 2)
        try:
            out = self._produce(
                queue, "latency", seconds + 120, "--rate", str(rate), "--seconds", str(seconds)
            )
            wait_until(
                lambda: int(self.redis.llen(key)) >= out["sent"],
                timeout_s=120,
                interval_s=POLL_S,
                what=f"{self.peer.key} latency jobs to run",
                watch=[workers],
            )
            waits = [float(v) * 1000 for v in self.redis.lrange(key, 0, -1)]
        finally:
            self._finish(queue, workers)
        return {
            "p50": percentile(waits, 50),
            "p99": percentile(waits, 99),
            **submit_latency(out, "send_us"),
        }

    def bulk(self, rep: int, n: int, timeout_s: float) -> dict[str, float]:
        """n jobs published with no worker running: jobs/s."""
        queue = self._queue("bulk", rep)
        try:
            out = self._produce(queue, "bulk", timeout_s, "--n", str(n), "--warmup", "1")
        finally:
            self._finish(queue)
        return {"bulk": n / (out["finished"] - out["started"])}

    def memory(
        self, rep: int, processes: int = 1, *, threads: int | None = None
    ) -> dict[str, float]:
        """Resident memory of an idle worker tree: ``processes`` worker processes (and their
        parent where they have one), ``threads`` each for Dramatiq (None: its default)."""
        queue = self._queue("memory", rep)
        workers = self._workers(queue, processes, threads=threads)
        try:
            time.sleep(SETTLE_S)
            return tree_memory(workers.popen.pid)
        finally:
            self._finish(queue, workers)

    def cli_seconds(self, rep: int, runs: int) -> dict[str, float]:
        """Median wall seconds of the peer's own submit-one-job command (``celery call``),
        run from a shell ``runs`` times after one untimed run; no worker runs."""
        if self.peer.family != "celery":
            raise BenchError(f"{self.peer.key} has no command that submits a job")
        queue = self._queue("cli", rep)
        argv = [
            *console_script(self.procs.python, "celery"),
            "--app",
            "bench.peers.celery_app",
            "call",
            "bench.noop",
            "--args",
            json.dumps([self._key(queue)]),
            "--queue",
            queue,
        ]
        try:
            return {"seconds": command_seconds(argv, self._env(queue), runs)}
        finally:
            self._finish(queue)

    def close(self) -> None:
        """Close the probe and Redis connections."""
        self.probe.close()
        self.redis.close()
