"""Plumbing shared by every system's runner: process groups, a private RabbitMQ
vhost, broker and Redis probes, bounded waits.

Every process the suite starts is the leader of its own process group and is
stopped with its whole group (Celery and Dramatiq fork children that must not
outlive the run). Every wait is bounded and fails early when a process it
depends on died, with the end of that process's log in the error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika
import pika.exceptions
import psutil
import redis

REPO = Path(__file__).resolve().parent.parent
"""The checkout; subprocesses run here so ``bench`` is importable without installing it."""

STOP_GRACE_S = 15.0  # seconds a process gets to drain after SIGTERM before SIGKILL
RABBITMQCTL_TIMEOUT_S = 60.0  # seconds; rabbitmqctl starts an Erlang VM each call
LOG_TAIL_LINES = 8  # lines of a dead process's log quoted in the error
COMMAND_TIMEOUT_S = 60.0  # seconds one run of a command-line tool may take
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class BenchError(Exception):
    """One measurement could not be taken; the suite reports it in the table and goes on."""


# -- processes ----------------------------------------------------------------


@dataclass
class Proc:
    """A started process (and its process group)."""

    name: str
    popen: subprocess.Popen[str]
    log: Path

    @property
    def alive(self) -> bool:
        """True while the group leader runs."""
        return self.popen.poll() is None

    def log_tail(self) -> str:
        """The last lines the process wrote to stderr."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the group, SIGKILL it after ``grace_s``; leftovers of the group too."""
        pgid = self.popen.pid
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self.popen.wait(timeout=grace_s)
        # A forked child that outlived its parent is still in the group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if self.popen.stdout is not None:
            self.popen.stdout.close()

    def failure(self, what: str) -> BenchError:
        """An error saying that this process is why ``what`` failed."""
        code = self.popen.poll()
        status = "still running" if code is None else f"exited with {code}"
        tail = self.log_tail()
        return BenchError(f"{what}: {self.name} {status}" + (f"\n{tail}" if tail else ""))


class Processes:
    """Starts processes for one suite run and guarantees they are all stopped.

    Args:
        python: the interpreter for every Python subprocess.
        log_dir: where each process's stderr goes (quoted when it fails); by default
            ``$QCBENCH_LOG_DIR`` when set (kept afterwards, e.g. to read the workers'
            claim and flush counts), else a temporary directory removed at the end.
    """

    def __init__(self, python: str = sys.executable, log_dir: Path | None = None) -> None:
        self.python = python
        if log_dir is None and os.environ.get("QCBENCH_LOG_DIR"):
            log_dir = Path(os.environ["QCBENCH_LOG_DIR"])
            log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="qcbench-logs-"))
        self._owns_log_dir = log_dir is None
        self._running: list[Proc] = []
        self._count = 0

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, capture: bool = False
    ) -> Proc:
        """Start ``argv`` in a new session (so in its own process group)."""
        self._count += 1
        log = self.log_dir / f"{self._count:03d}-{name}.log"
        with log.open("w") as err:
            popen = subprocess.Popen(
                list(argv),
                cwd=REPO,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self._running.append(proc)
        return proc

    def stop(self, *procs: Proc) -> None:
        """Stop these processes (all of them at once, so their drains overlap)."""
        for p in procs:
            if p.popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(p.popen.pid, signal.SIGTERM)
        for p in procs:
            p.stop()
            if p in self._running:
                self._running.remove(p)

    def result(self, proc: Proc, timeout_s: float) -> dict[str, Any]:
        """Wait for a producer and parse the JSON line it ends with."""
        try:
            out, _ = proc.popen.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise proc.failure(f"no result after {timeout_s:.0f} s") from None
        self.stop(proc)
        if proc.popen.returncode != 0:
            raise proc.failure("producer failed")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise proc.failure("producer printed no result")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def close(self) -> None:
        """Stop everything still running; drop the logs."""
        self.stop(*self._running)
        if self._owns_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment, with the checkout importable and ``extra`` on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- waiting ------------------------------------------------------------------


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    watch: Sequence[Proc] = (),
) -> None:
    """Poll ``check`` until it holds; fail after ``timeout_s`` or when a watched process dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return
        for p in watch:
            if not p.alive:
                raise p.failure(f"waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


# -- RabbitMQ -----------------------------------------------------------------


@dataclass
class Vhost:
    """Where one suite run's broker traffic goes, and what to clean up afterwards."""

    url: str
    """AMQP URL of the private vhost (or of the configured one when none could be made)."""
    private: bool
    """False when no private vhost could be made: then the run deletes what it declared."""
    queues: set[str] = field(default_factory=set)
    exchanges: set[str] = field(default_factory=set)

    def forget_later(self, *, queues: Sequence[str] = (), exchanges: Sequence[str] = ()) -> None:
        """Names to delete at the end when the run shares a vhost."""
        self.queues.update(queues)
        self.exchanges.update(exchanges)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(
        ["rabbitmqctl", "--quiet", *args],
        check=True,
        capture_output=True,
        timeout=RABBITMQCTL_TIMEOUT_S,
    )


@contextmanager
def private_vhost(amqp_url: str, tag: str) -> Iterator[Vhost]:
    """A vhost of our own on the local RabbitMQ, deleted (with all it holds) afterwards.

    Needs ``rabbitmqctl`` and the right to use it (root here); otherwise the run
    uses the configured vhost and deletes the queues and exchanges it noted.
    """
    parts = urlsplit(amqp_url)
    name = f"qcbench-{tag}"
    made = False
    if (parts.hostname or "") in LOCAL_HOSTS and shutil.which("rabbitmqctl"):
        user = unquote(parts.username or "guest")
        try:
            _rabbitmqctl("add_vhost", name)
            made = True
            _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"bench: no private vhost ({exc}); using the configured one", file=sys.stderr)
    if made:
        vhost = Vhost(urlunsplit(parts._replace(path="/" + quote(name, safe=""))), private=True)
    else:
        vhost = Vhost(amqp_url, private=False)
    try:
        yield vhost
    finally:
        if made:
            try:
                _rabbitmqctl("delete_vhost", name)
            except (subprocess.SubprocessError, OSError) as exc:
                print(f"bench: could not delete vhost {name}: {exc}", file=sys.stderr)
        else:
            with suppress(Exception):
                delete_queues(amqp_url, sorted(vhost.queues), sorted(vhost.exchanges))


def _connect(url: str) -> pika.BlockingConnection:
    params = pika.URLParameters(url)
    params.heartbeat = 0  # probes sit idle between calls; no heartbeats to miss
    params.blocked_connection_timeout = 30
    return pika.BlockingConnection(params)


class BrokerProbe:
    """A management connection for counting consumers and deleting queues.

    Args:
        url: the AMQP URL (of the private vhost).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: pika.BlockingConnection | None = None

    def _connection(self) -> pika.BlockingConnection:
        if self._conn is None or not self._conn.is_open:
            self._conn = _connect(self.url)
        return self._conn

    def consumers(self, queue: str) -> int:
        """Consumers on ``queue`` now; 0 while it does not exist yet."""
        try:
            channel = self._connection().channel()
        except pika.exceptions.AMQPError:
            self._conn = None
            return 0
        try:
            ok = channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
            return 0
        channel.close()
        return int(ok.method.consumer_count)

    def delete(self, queues: Sequence[str] = (), exchanges: Sequence[str] = ()) -> None:
        """Delete queues and exchanges; a missing one is fine."""
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                channel = self._connection().channel()
                try:
                    if kind == "queue":
                        channel.queue_delete(name)
                    else:
                        channel.exchange_delete(name)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None and self._conn.is_open:
            with suppress(pika.exceptions.AMQPError):
                self._conn.close()
        self._conn = None


def delete_queues(url: str, queues: Sequence[str], exchanges: Sequence[str] = ()) -> None:
    """Delete queues and exchanges through a short-lived connection."""
    probe = BrokerProbe(url)
    try:
        probe.delete(queues, exchanges)
    finally:
        probe.close()


def wait_for_consumers(
    probe: BrokerProbe, queue: str, count: int, *, timeout_s: float, watch: Sequence[Proc]
) -> None:
    """Block until ``count`` consumers listen on ``queue``: the workers are ready."""
    wait_until(
        lambda: probe.consumers(queue) >= count,
        timeout_s=timeout_s,
        interval_s=0.1,
        what=f"{count} consumer(s) on {queue}",
        watch=watch,
    )


# -- Redis --------------------------------------------------------------------


def redis_client(url: str) -> redis.Redis:
    """A client that returns bytes (counters are parsed where they are read)."""
    return redis.Redis.from_url(url)


def delete_prefixed(client: redis.Redis, prefix: str, limit: int = 1_000_000) -> int:
    """Delete every key starting with ``prefix`` (at most ``limit``); returns how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.delete(*batch))
            batch.clear()
        if deleted + len(batch) >= limit:
            break
    if batch:
        deleted += int(client.delete(*batch))
    return deleted


# -- memory -----------------------------------------------------------------


def tree_memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS in MiB of a process and all its descendants.

    RSS counts the pages a forked tree shares in every process; PSS shares them fairly
    between parent and children; USS counts only each process's own pages (what killing
    it would free), so a tree's USS plus its shared pages once is its real footprint.
    """
    root = psutil.Process(pid)
    rss = pss = uss = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        uss += getattr(info, "uss", info.rss)
    return {"rss": rss / 2**20, "pss": pss / 2**20, "uss": uss / 2**20}


# -- commands from a shell -------------------------------------------------------


def console_script(python: str, name: str) -> list[str]:
    """How a user runs ``name`` from a shell: the console script installed next to
    ``python`` when there is one, else ``python -m name`` (the same code, one import more)."""
    script = Path(python).parent / name
    return [str(script)] if script.exists() else [python, "-m", name]


def command_seconds(argv: Sequence[str], env: Mapping[str, str], runs: int) -> float:
    """Median wall seconds of ``runs`` runs of a command, after one untimed run (which warms
    the page cache and writes the byte-code caches); each run must succeed."""
    times: list[float] = []
    for i in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            list(argv),
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            tail = "\n".join(done.stderr.splitlines()[-LOG_TAIL_LINES:])
            raise BenchError(f"{' '.join(argv[:4])} … exited with {done.returncode}\n{tail}")
        if i:
            times.append(elapsed)
    return statistics.median(times)


# -- statistics ---------------------------------------------------------------


def submit_latency(out: Mapping[str, Any], key: str) -> dict[str, float]:
    """p50 and p99 in µs of how long each paced submit blocked its caller (a producer's
    ``key`` list), and the rate the producer reached (below the pace when it could not
    keep it)."""
    blocked = [float(v) for v in out[key]]
    return {
        "submit_p50_us": percentile(blocked, 50),
        "submit_p99_us": percentile(blocked, 99),
        "paced_rate": len(blocked) / max(out["finished"] - out["started"], 1e-9),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated between closest ranks."""
    if not values:
        raise BenchError("no samples")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median of the repetitions."""
    return statistics.median(values)
