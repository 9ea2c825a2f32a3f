"""Our engine against Celery and Dramatiq, and against this machine's limits, in one run.

    python -m bench [--quick] [--n 20000] [--reps 3]
                    [--only e2e,limits,submit,latency,memory,single,http,tenants]

Every section alternates the systems within each repetition (ours, peer A,
peer B, ours, …) so that a burst of load from someone else on a shared
machine lands on all of them alike, and reports the median of the
repetitions. The last column is the ratio ours/peer: absolute figures drift
from run to run, ratios measured side by side hold. Peers come from the
``bench`` extra (``pip install -e '.[bench]'``); without it their rows say so.
The ``single`` section (:mod:`bench.one_at_a_time`: one job at a time, the path
applications take) prints its own tables after the main one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import print_table, scratch_database
from bench.harness import (
    BrokerProbe,
    Processes,
    Vhost,
    delete_prefixed,
    median,
    private_vhost,
    python_env,
    redis_client,
    wait_for_consumers,
)
from bench.limits import declare, postgres_rows
from bench.one_at_a_time import options as single_options
from bench.one_at_a_time.options import SingleOptions
from bench.one_at_a_time.section import Section, peer_runs
from bench.one_at_a_time.table import print_tables
from bench.one_at_a_time.trials import Trial
from bench.ours import Ours, runtime_missing
from bench.peers import DEFAULT_PEERS, PEERS, Peer
from bench.peers.runner import PeerRun
from bench.submit import layered_workflow

SECTIONS = ("e2e", "limits", "submit", "latency", "memory", "single", "http", "tenants")
OURS = "ours (queueconsole)"
LIMIT_MQ = "limit: RabbitMQ"
LIMIT_PG = "limit: PostgreSQL"
INFLIGHT = 500  # raw pika: unconfirmed messages allowed in flight
RAW_PREFETCH = 100  # raw pika: unacked messages per consumer
PG_BATCH = 100  # raw PostgreSQL: rows per transaction
HEADERS = ("system", "configuration", "metric", "median", "ratio ours/peer")
PEERS_MISSING = "n/a (pip install -e '.[bench]')"
SUBMIT_RATE = "submit jobs/s"
COMPLETED_RATE = "completed jobs/s"


@dataclass
class Options:
    """What to run and how big (the command-line flags)."""

    n: int = 20_000
    slow_n: int = 10_000
    """End-to-end jobs for the slow peers (Celery), as the issue's reference run did: their
    rate is steady long before, and the suite stays within about ten minutes."""
    reps: int = 3
    only: tuple[str, ...] = SECTIONS
    bulk_n: int = 100_000
    workflow_n: int = 10_000
    latency_rate: float = 50.0
    latency_seconds: float = 10.0
    peers: tuple[str, ...] = DEFAULT_PEERS
    prefetch: int | None = None
    """Our workers' ``--prefetch``; None runs them with their own default."""
    batch: int = 500
    json_path: str | None = None
    single: SingleOptions = field(default_factory=SingleOptions)
    """The one-at-a-time section's sizes."""
    http_n: int = 5_000
    """Jobs per run of the http section (:mod:`bench.http`)."""
    event_lag_s: float = 10.0
    """Seconds of load while the http section measures event-stream lag."""

    def e2e_n(self, peer: Peer | None) -> int:
        """Jobs per end-to-end run of a system (None: ours)."""
        return self.slow_n if peer is not None and peer.slow else self.n

    def e2e_timeout_s(self, n: int) -> float:
        """Generous: a system slower than 50 jobs/s is reported as timed out."""
        return 60.0 + n / 50


@dataclass
class Row:
    """One line of the table and the repetitions behind it."""

    section: str
    system: str
    configuration: str
    metric: str
    fmt: str
    ours: bool = False
    compare: tuple[str, str] | None = None
    """(section, metric) of the ours row that the ratio divides by this row."""
    values: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missing: str | None = None

    @property
    def median(self) -> float | None:
        """Median of the successful repetitions."""
        return median(self.values) if self.values else None

    def shown(self) -> str:
        """The median column."""
        if self.missing:
            return self.missing
        if self.median is None:
            return "failed" if self.errors else "-"
        text = format(self.median, self.fmt)
        if self.errors:
            text += f" ({len(self.values)}/{len(self.values) + len(self.errors)} ok)"
        return text


class Results:
    """The table, filled in as the measurements come."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], Row] = {}

    def row(self, section: str, system: str, configuration: str, metric: str, **kw: Any) -> Row:
        """The row for this (section, system, configuration, metric), made on first use."""
        key = (section, system, configuration, metric)
        if key not in self.rows:
            self.rows[key] = Row(section, system, configuration, metric, **kw)
        return self.rows[key]

    def ours(self, section: str, metric: str) -> Row | None:
        """Our row for a metric."""
        for r in self.rows.values():
            if r.ours and r.section == section and r.metric == metric:
                return r
        return None

    def ratio(self, row: Row) -> str:
        """ours / this row, for peers and limits."""
        if row.ours or row.compare is None:
            return ""
        ours = self.ours(*row.compare)
        if ours is None or ours.median is None or row.median is None or row.median == 0:
            return "n/a"
        return f"{ours.median / row.median:.2f}x"

    def table(self) -> list[list[str]]:
        """Rows in section order, ours first within each."""
        ordered = sorted(self.rows.values(), key=lambda r: (SECTIONS.index(r.section), not r.ours))
        return [[r.system, r.configuration, r.metric, r.shown(), self.ratio(r)] for r in ordered]

    def failed(self) -> bool:
        """True when any measurement raised."""
        return any(r.errors for r in self.rows.values())


Metrics = Sequence[tuple[str, str, str]]
"""(result key, metric name, format) of one system's measurement."""


def measure(
    results: Results,
    section: str,
    systems: Sequence[tuple[str, str, Callable[[int], dict[str, float]] | None, str | None]],
    metrics: Callable[[str], Metrics],
    reps: int,
    *,
    compare: Callable[[str, str], tuple[str, str] | None],
) -> None:
    """Run every system once per repetition, alternating, and record each metric.

    ``systems`` holds (system, configuration, run, missing): ``run(rep)`` returns
    the metric values; when it is None, ``missing`` says why in the table.
    """
    rows = {
        (i, key): results.row(
            section,
            system,
            configuration,
            name,
            fmt=fmt,
            ours=system == OURS,
            compare=compare(system, name),
            missing=missing,
        )
        for i, (system, configuration, _run, missing) in enumerate(systems)
        for key, name, fmt in metrics(system)
    }
    for rep in range(reps):
        for i, (system, configuration, run, _missing) in enumerate(systems):
            if run is None:
                continue
            label = f"[{section} {rep + 1}/{reps}] {system}, {configuration}"
            started = time.monotonic()
            try:
                values = run(rep)
            except Exception as exc:  # one failed run is reported, the suite goes on
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                print(f"{label}: FAILED: {exc}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                for key, _name, _fmt in metrics(system):
                    rows[(i, key)].errors.append(message)
                continue
            for key, _name, _fmt in metrics(system):
                rows[(i, key)].values.append(values[key])
            shown = ", ".join(f"{k} {format(v, ',.1f')}" for k, v in values.items())
            print(f"{label}: {shown} ({time.monotonic() - started:.0f} s)", file=sys.stderr)


class Suite:
    """One run of the benchmark: its vhost, scratch database, processes and results."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.tag = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.redis_prefix = f"qcbench:{self.tag}:"
        self.results = Results()
        self.single: list[Trial] = []
        """The one-at-a-time section's trials, when it ran."""
        self.single_load: list[tuple[float, float, float]] = []
        self.event_lag: dict[str, Any] | None = None
        """The http section's event-stream lag (:func:`bench.http_events.measure`)."""
        self.procs = Processes()
        self.loop = asyncio.new_event_loop()

    def run(self) -> Results:
        """Measure every selected section; stop and delete everything afterwards."""
        scratch = scratch_database("suite")
        settings = self.loop.run_until_complete(scratch.__aenter__())
        ours: Ours | None = None
        peers: list[PeerRun] = []
        try:
            with private_vhost(settings.amqp_url, self.tag) as vhost:
                settings = settings.evolve(amqp_url=vhost.url)
                missing = runtime_missing(self.procs.python)
                if missing is None:
                    ours = Ours(
                        settings,
                        self.procs,
                        vhost,
                        prefetch=self.options.prefetch,
                        batch=self.options.batch,
                        redis_prefix=self.redis_prefix,
                        loop=self.loop,
                    )
                peers = [
                    PeerRun(p, self.procs, vhost, settings.redis_url, self.redis_prefix)
                    for p in self._peers()
                    if p.available()
                ]
                try:
                    self._sections(settings, vhost, ours, missing, peers)
                finally:
                    self.procs.close()
                    for p in peers:
                        p.close()
                    if ours is not None:
                        ours.close()
        finally:
            client = redis_client(settings.redis_url)
            try:
                delete_prefixed(client, self.redis_prefix)
                delete_prefixed(client, settings.namespace)  # our engine's status cache
            finally:
                client.close()
            self.loop.run_until_complete(scratch.__aexit__(None, None, None))
            self.loop.close()
        return self.results

    def _peers(self) -> list[Peer]:
        return [PEERS[k] for k in self.options.peers]

    def _light_peers(self) -> list[Peer]:
        """The first selected configuration of each peer family."""
        seen: dict[str, Peer] = {}
        for p in self._peers():
            seen.setdefault(p.family, p)
        return list(seen.values())

    def _sections(
        self,
        settings: Any,
        vhost: Vhost,
        ours: Ours | None,
        ours_missing: str | None,
        peer_runs: list[PeerRun],
    ) -> None:
        o = self.options
        by_key = {p.peer.key: p for p in peer_runs}
        ours_prefetch = ours.prefetch_label() if ours is not None else "worker prefetch"

        def systems(
            ours_config: str,
            ours_fn: Callable[[Ours], Callable[[int], dict[str, float]]],
            peers: list[Peer],
            peer_config: Callable[[Peer], str],
            peer_fn: Callable[[PeerRun], Callable[[int], dict[str, float]]],
        ) -> list[tuple[str, str, Callable[[int], dict[str, float]] | None, str | None]]:
            out: list[tuple[str, str, Callable[[int], dict[str, float]] | None, str | None]] = [
                (
                    OURS,
                    ours_config,
                    None if ours is None else ours_fn(ours),
                    None if ours is not None else f"n/a ({ours_missing})",
                )
            ]
            for p in peers:
                run = by_key.get(p.key)
                out.append(
                    (
                        p.system,
                        peer_config(p),
                        None if run is None else peer_fn(run),
                        None if run is not None else PEERS_MISSING,
                    )
                )
            return out

        if "e2e" in o.only:
            measure(
                self.results,
                "e2e",
                systems(
                    f"2 workers, {ours_prefetch}, submit_many x{o.batch}, confirmed; N={o.n:,}",
                    lambda s: lambda rep: s.e2e(rep, o.n, o.e2e_timeout_s(o.n)),
                    self._peers(),
                    lambda p: f"{p.configuration}; N={o.e2e_n(p):,}",
                    lambda r: (
                        lambda rep: r.e2e(rep, o.e2e_n(r.peer), o.e2e_timeout_s(o.e2e_n(r.peer)))
                    ),
                ),
                lambda _s: (
                    ("submit", SUBMIT_RATE, ",.0f"),
                    ("completed", COMPLETED_RATE, ",.0f"),
                ),
                o.reps,
                compare=lambda _s, metric: ("e2e", metric),
            )

        if "limits" in o.only:
            self._limits(settings, vhost)

        if "submit" in o.only:
            peer_n = min(o.slow_n, o.bulk_n)
            width = min(1000, max(4, o.workflow_n // 10))
            edges = sum(len(s.depends_on) for s in layered_workflow(o.workflow_n, width))
            bulk_metric = "bulk submit jobs/s"
            measure(
                self.results,
                "submit",
                systems(
                    f"{o.bulk_n:,} jobs in submit_many(); workflow {o.workflow_n:,} jobs, "
                    f"{edges:,} edges",
                    lambda s: (
                        lambda rep: s.bulk(rep, o.bulk_n, o.workflow_n, o.e2e_timeout_s(o.bulk_n))
                    ),
                    self._light_peers(),
                    lambda p: f"{peer_n:,} publishes, no worker running",
                    lambda r: lambda rep: r.bulk(rep, peer_n, o.e2e_timeout_s(peer_n)),
                ),
                lambda s: (
                    (("bulk", bulk_metric, ",.0f"),)
                    if s != OURS
                    else (
                        ("bulk", bulk_metric, ",.0f"),
                        ("workflow", "workflow submit seconds", ".2f"),
                    )
                ),
                o.reps,
                compare=lambda _s, metric: ("submit", metric),
            )

        if "latency" in o.only:
            light = f"2 idle workers, one job at a time, {o.latency_rate:g}/s for "
            light += f"{o.latency_seconds:g} s"
            measure(
                self.results,
                "latency",
                systems(
                    light,
                    lambda s: lambda rep: s.latency(rep, o.latency_rate, o.latency_seconds),
                    self._light_peers(),
                    lambda p: light,
                    lambda r: lambda rep: r.latency(rep, o.latency_rate, o.latency_seconds),
                ),
                lambda _s: (
                    ("p50", "submit-to-start p50 ms", ".1f"),
                    ("p99", "submit-to-start p99 ms", ".1f"),
                ),
                o.reps,
                compare=lambda _s, metric: ("latency", metric),
            )

        if "memory" in o.only:
            measure(
                self.results,
                "memory",
                systems(
                    "1 idle worker process",
                    lambda s: s.memory,
                    self._light_peers(),
                    lambda p: (
                        "--concurrency 1: main + 1 pool process"
                        if p.family == "celery"
                        else "--processes 1: main + 1 worker process"
                    ),
                    lambda r: r.memory,
                ),
                lambda _s: (
                    ("rss", "idle worker RSS MiB", ".0f"),
                    ("pss", "idle worker PSS MiB", ".0f"),
                ),
                o.reps,
                compare=lambda _s, metric: ("memory", metric),
            )

        if "single" in o.only:
            self._single(settings, vhost, ours, ours_missing)

        if "http" in o.only:
            self._http(settings)

        if "tenants" in o.only:
            self._tenants(ours, ours_missing)

    def _tenants(self, ours: Ours | None, ours_missing: str | None) -> None:
        """Completed jobs/s on one queue with 1 tenant and with 100 (the fair-share claim),
        alternating in the same run; then how soon a small tenant starts behind a flood."""
        o = self.options
        missing = None if ours is not None else f"n/a ({ours_missing})"
        timeout = o.e2e_timeout_s(o.n)

        def run(tenants: int) -> Callable[[int], dict[str, float]] | None:
            if ours is None:
                return None
            return lambda rep: ours.tenants_e2e(rep, o.n, tenants, timeout)

        measure(
            self.results,
            "tenants",
            [
                (OURS, f"1 tenant, 2 workers; N={o.n:,}", run(1), missing),
                (OURS, f"100 tenants on one queue, 2 workers; N={o.n:,}", run(100), missing),
            ],
            lambda _s: (("completed", COMPLETED_RATE, ",.0f"),),
            o.reps,
            compare=lambda _s, _m: None,
        )
        fair = None if ours is None else (lambda rep: ours.tenants_fairness(rep, o.n, 20, timeout))
        measure(
            self.results,
            "tenants",
            [(OURS, f"20 jobs of a tenant behind {o.n:,} of another", fair, missing)],
            lambda _s: (
                ("wait", FAIR_WAIT, ",.2f"),
                ("flood_done", FAIR_FLOOD_DONE, ",.1f"),
            ),
            o.reps,
            compare=lambda _s, _m: None,
        )

    def _http(self, settings: Any) -> None:
        """Submits/s over the HTTP API (1 and 32 keep-alive clients) against the in-process
        Client (one caller and 50), all on the same database, alternating."""
        from bench import http

        def started(workers: int) -> http.HttpBench | None:
            server = http.HttpBench(settings, self.procs, self.loop, workers=workers)
            try:
                server.start()
            except Exception as exc:  # reported as n/a rows; the suite goes on
                print(f"[http] the API (--workers {workers}) did not start: {exc}", file=sys.stderr)
                server.close()
                return None
            return server

        bench = started(1)
        multi = started(http.MULTI_WORKERS)
        try:
            measure(
                self.results,
                "http",
                http.systems(bench, multi, self.options.http_n, OURS),
                lambda _s: (("rate", "submits/s", ",.0f"),),
                self.options.reps,
                compare=lambda system, metric: None if system == OURS else ("http", metric),
            )
        finally:
            for server in (bench, multi):
                if server is not None:
                    server.close()
        self._event_lag()

    def _event_lag(self) -> None:
        """Event-stream lag while about 1,000 jobs/s run (its own database and engine)."""
        from bench import http_events

        try:
            self.event_lag = self.loop.run_until_complete(
                http_events.measure(seconds=self.options.event_lag_s)
            )
        except Exception as exc:  # reported, not fatal: the other sections stand
            print(f"[http] event-stream lag could not be measured: {exc}", file=sys.stderr)

    def _single(
        self, settings: Any, vhost: Vhost, ours: Ours | None, ours_missing: str | None
    ) -> None:
        """One job at a time against the peers' one-at-a-time producers; its own peers
        (the issue's four configurations, whatever ``--peers`` selects)."""
        runs = peer_runs(self.procs, vhost, settings.redis_url, self.redis_prefix)
        try:
            section = Section(self.options.single, self.options.reps, ours, ours_missing, runs)
            self.single = section.run()
            self.single_load = section.load
        finally:
            for r in runs.values():
                r.close()

    def _limits(self, settings: Any, vhost: Vhost) -> None:
        o = self.options
        probe = BrokerProbe(vhost.url)

        def rabbitmq(rep: int) -> dict[str, float]:
            queue = f"raw-{rep}"
            vhost.forget_later(queues=[queue])
            declare(vhost.url, queue)
            env = python_env({})
            base = [self.procs.python, "-m", "bench.limits"]
            common = ["--url", vhost.url, "--queue", queue]
            timeout = o.e2e_timeout_s(o.n)
            consumers = [
                self.procs.start(
                    "raw-consumer",
                    [*base, "consume", *common, "--prefetch", str(RAW_PREFETCH)],
                    env,
                    capture=True,
                )
                for _ in range(2)
            ]
            try:
                wait_for_consumers(probe, queue, 2, timeout_s=30, watch=consumers)
                publisher = self.procs.start(
                    "raw-publisher",
                    [*base, "publish", *common, "--n", str(o.n), "--inflight", str(INFLIGHT)],
                    env,
                    capture=True,
                )
                out = self.procs.result(publisher, timeout)
                ends = [self.procs.result(c, timeout) for c in consumers]
            finally:
                self.procs.stop(*consumers)
                probe.delete([queue])
            consumed = sum(e["count"] for e in ends)
            if consumed != o.n or out["nacked"]:
                raise RuntimeError(
                    f"raw pika: {consumed} of {o.n} consumed, {out['nacked']} nacked"
                )
            last = max(e["last"] for e in ends)
            return {
                "publish": o.n / (out["finished"] - out["started"]),
                "consume": o.n / (last - out["started"]),
            }

        def postgres(_rep: int) -> dict[str, float]:
            dsn = settings.database_url
            seconds = self.loop.run_until_complete(postgres_rows(dsn, o.n, PG_BATCH))
            return {"rows": o.n / seconds}

        try:
            measure(
                self.results,
                "limits",
                [
                    (
                        LIMIT_MQ,
                        f"raw pika, {INFLIGHT} confirms in flight, 2 consumers, manual ack; "
                        f"N={o.n:,}",
                        rabbitmq,
                        None,
                    ),
                    (
                        LIMIT_PG,
                        f"raw INSERT+UPDATE, {PG_BATCH} rows/transaction, 2 connections; N={o.n:,}",
                        postgres,
                        None,
                    ),
                ],
                lambda s: (
                    (
                        ("publish", "publish msgs/s", ",.0f"),
                        ("consume", "consume msgs/s", ",.0f"),
                    )
                    if s == LIMIT_MQ
                    else (("rows", "insert+update rows/s", ",.0f"),)
                ),
                o.reps,
                compare=lambda s, metric: (
                    ("e2e", SUBMIT_RATE)
                    if metric.startswith("publish")
                    else ("e2e", COMPLETED_RATE)
                ),
            )
        finally:
            probe.close()


def summary(results: Results, options: Options) -> list[str]:
    """The closing lines: ours as a fraction of the lower physical limit."""
    lines = [
        "ratio = ours/peer: above 1 ours is faster (throughput); for latency, seconds and "
        "memory below 1 ours is better.",
    ]
    ours = results.ours("e2e", COMPLETED_RATE)
    limits = [
        r
        for r in results.rows.values()
        if r.section == "limits" and r.median and not r.metric.startswith("publish")
    ]
    if ours is not None and ours.median and limits:
        lowest = min(limits, key=lambda r: r.median or 0.0)
        assert lowest.median is not None
        lines.append(
            f"ours end-to-end: {ours.median:,.0f} jobs/s = {ours.median / lowest.median:.0%} of "
            f"the lower physical limit ({lowest.system}, {lowest.median:,.0f} {lowest.metric})."
        )
    lines.extend(_tenant_summary(results))
    return lines


FAIR_WAIT = "s until the 20 all started"
FAIR_FLOOD_DONE = "% of the flood done by then"


def _tenant_summary(results: Results) -> list[str]:
    """The tenants section in one sentence: the cost of 100 tenants, and fairness."""
    rates = sorted(
        (r for r in results.rows.values() if r.section == "tenants" and r.metric == COMPLETED_RATE),
        key=lambda r: r.configuration,
    )
    one = next((r for r in rates if r.configuration.startswith("1 tenant")), None)
    many = next((r for r in rates if r.configuration.startswith("100 tenants")), None)
    lines = []
    if one is not None and many is not None and one.median and many.median:
        lines.append(
            f"tenants: {one.median:,.0f} completed jobs/s with 1 tenant, {many.median:,.0f} "
            f"with 100 tenants sharing the queue ({many.median / one.median:.0%})."
        )
    wait = next((r for r in results.rows.values() if r.metric == FAIR_WAIT), None)
    done = next((r for r in results.rows.values() if r.metric == FAIR_FLOOD_DONE), None)
    if (
        wait is not None
        and done is not None
        and wait.median is not None
        and done.median is not None
    ):
        lines.append(
            f"fairness: a tenant's 20 jobs submitted behind {wait.configuration.split()[-3]} "
            f"of another's all started within {wait.median:.2f} s, with "
            f"{done.median:.1f}% of the flood done by then."
        )
    return lines


def _given(value: Any, default: Any) -> Any:
    """A flag's value, or the default when the flag was not given (0 is a value)."""
    return default if value is None else value


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Flags to :class:`Options`; ``--quick`` shrinks the defaults to about two minutes."""
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small N, short latency run")
    parser.add_argument("--n", type=int, help="jobs per end-to-end run (20,000; quick 2,000)")
    parser.add_argument(
        "--slow-n", type=int, help="end-to-end jobs for the slow peers, Celery (N/2)"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions, at least 1 (3)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--bulk-n", type=int, help="jobs in the bulk submit (100,000)")
    parser.add_argument("--workflow-n", type=int, help="jobs in the workflow (10,000)")
    parser.add_argument("--http-n", type=int, help="jobs per HTTP submit run (5,000; quick 1,000)")
    parser.add_argument("--latency-rate", type=float, default=50.0, help="jobs/s (50)")
    parser.add_argument("--latency-seconds", type=float, help="latency run length (10)")
    parser.add_argument(
        "--peers",
        default=",".join(DEFAULT_PEERS),
        help=f"peer configurations, or 'none' (of {', '.join(PEERS)})",
    )
    parser.add_argument(
        "--prefetch", type=int, help="our workers' --prefetch (default: the worker's own)"
    )
    parser.add_argument("--batch", type=int, default=500, help="our jobs per submit_many (500)")
    parser.add_argument("--json", dest="json_path", help="also write every repetition here")
    single_options.add_arguments(parser)
    args = parser.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in only if s not in SECTIONS]
    if unknown or not only:
        parser.error(f"--only: choose from {', '.join(SECTIONS)}")
    peers = () if args.peers == "none" else tuple(p.strip() for p in args.peers.split(","))
    bad = [p for p in peers if p not in PEERS]
    if bad:
        parser.error(f"--peers: unknown {', '.join(bad)}; known: {', '.join(PEERS)}")
    quick = args.quick
    n = _given(args.n, 2_000 if quick else 20_000)
    options = Options(
        n=n,
        slow_n=_given(args.slow_n, max(1, n // 2)),
        reps=args.reps,
        only=only,
        bulk_n=_given(args.bulk_n, 20_000 if quick else 100_000),
        workflow_n=_given(args.workflow_n, 10_000),
        latency_rate=args.latency_rate,
        latency_seconds=_given(args.latency_seconds, 3.0 if quick else 10.0),
        peers=peers,
        prefetch=args.prefetch,
        batch=args.batch,
        json_path=args.json_path,
        single=single_options.from_arguments(parser, args, quick=quick),
        http_n=_given(args.http_n, 1_000 if quick else 5_000),
        event_lag_s=3.0 if quick else 10.0,
    )
    for name in ("n", "slow_n", "reps", "bulk_n", "workflow_n", "prefetch", "batch", "http_n"):
        if getattr(options, name) is not None and getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.latency_rate <= 0 or options.latency_seconds <= 0:
        parser.error("--latency-rate and --latency-seconds must be positive")
    return options


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite, print the table; exit 1 when a measurement failed."""
    options = parse_args(argv)
    # A SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: every finally block stops the
    # workers it started and deletes the vhost and the scratch database.
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    suite = Suite(options)
    results = suite.run()
    print(
        f"\nqueueconsole vs peers: medians of {options.reps} run(s), alternating, "
        f"{os.cpu_count()} cores, {time.monotonic() - started:.0f} s\n"
    )
    if results.rows:
        print_table(HEADERS, results.table(), left=3)
        print()
        for line in summary(results, options):
            print(line)
        print()
    if "single" in options.only:
        print_tables(suite.single, options.single, options.reps, suite.single_load)
    if suite.event_lag is not None:
        from bench import http_events

        lag = suite.event_lag
        print(
            f"event-stream lag over SSE: {lag['jobs']:,} jobs at {lag['rate_submitted']:,.0f}/s "
            f"(target {lag['rate_target']:,.0f}/s), {lag['workers']} workers; "
            f"{lag['jobs_unseen']} jobs never seen"
        )
        print_table(http_events.HEADERS, http_events.rows(lag))
        print()
    if options.json_path:
        with open(options.json_path, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "options": dataclasses.asdict(options),
                    "single": [t.as_json() for t in suite.single],
                    "event_lag": suite.event_lag,
                    "rows": [
                        {
                            "section": r.section,
                            "system": r.system,
                            "configuration": r.configuration,
                            "metric": r.metric,
                            "values": r.values,
                            "errors": r.errors,
                            "median": r.median,
                        }
                        for r in results.rows.values()
                    ],
                },
                f,
                indent=2,
            )
    return 1 if results.failed() or any(t.errors for t in suite.single) else 0


if __name__ == "__main__":
    raise SystemExit(main())
