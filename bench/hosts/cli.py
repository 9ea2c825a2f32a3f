"""``python -m bench.hosts``: engines on network-namespace hosts, one table.

Creates ``--hosts`` namespaces with veth links and forwarders to the shared services
(:mod:`bench.netns`), then runs, each in a scratch database and namespace:

1. the workload through engines on 1, 2, … ``--hosts`` hosts (throughput, CPU per part,
   claim conflicts);
2. a partition: the last host's link cut while it runs jobs, restored once they ran
   elsewhere (lost, completed twice, rescue and recovery time, late completions fenced);
3. a remote scale: ``queueconsole scale --host`` from host-1 changes the last host's
   workers, read back with ``status --json``;
4. a broker node down: three more hosts on a bridge, each with an engine and a node of a
   3-node RabbitMQ cluster; one node stopped once a third of the work is done.

Needs root (``ip netns``) and ``socat``. Every namespace, link, forwarder and engine is
removed at the end, also on Ctrl-C or an error. Exit status: 0 when the partition lost
nothing, completed nothing twice and the scale landed; 1 otherwise; 3 when namespaces
cannot be made here.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.common import print_table
from bench.hosts.broker_cluster import ClusterRow, broker_node_down
from bench.hosts.fleet import EngineFlags, service_ports
from bench.hosts.scenarios import (
    PartitionRow,
    ScaleRow,
    ThroughputRow,
    partition,
    remote_scale,
    throughput,
)
from bench.netns import MAX_HOSTS, NetnsError, Network, unavailable_reason
from engine.config import load_settings
from engine.worker.registry import with_demo_jobs

HEADERS = (
    "run",
    "workers",
    "jobs",
    "seconds",
    "jobs/s",
    "cpu s engines",
    "cpu s postgres",
    "cpu s rabbitmq",
    "cpu s redis",
    "claim conflicts",
    "pg conns",
    "lost",
    "completed >1",
    "recovery (s)",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hosts",
        description="Engines on several network-namespace hosts against the shared "
        "services: throughput per host count, a partition, a remote scale.",
    )
    parser.add_argument("--hosts", type=int, default=3, metavar="N", help="hosts (3)")
    parser.add_argument(
        "--jobs", type=int, default=3000, metavar="N", help="jobs per throughput run (3000)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="worker processes per host (2)"
    )
    parser.add_argument(
        "--heartbeat-timeout-s",
        type=float,
        default=5.0,
        metavar="S",
        help="the engines' heartbeat timeout (5)",
    )
    parser.add_argument(
        "--skip-throughput", action="store_true", help="only the partition and the scale"
    )
    parser.add_argument(
        "--skip-cluster", action="store_true", help="no RabbitMQ cluster run (it boots 3 nodes)"
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="keep engine logs here")
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts {args.hosts}: give 1 to {MAX_HOSTS}")
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give at least 1")
    if not 1 <= args.workers <= 16:
        parser.error(f"--workers {args.workers}: give 1 to 16")
    if not 0.5 <= args.heartbeat_timeout_s <= 600:
        parser.error(f"--heartbeat-timeout-s {args.heartbeat_timeout_s:g}: give 0.5 to 600")
    return args


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _num(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def throughput_cells(row: ThroughputRow) -> list[object]:
    name = f"{row.hosts} host{'s' if row.hosts != 1 else ''}"
    return [
        name,
        row.workers,
        row.jobs,
        _num(row.seconds),
        _num(row.per_second, 0),
        _num(row.engines_cpu_s),
        _num(row.postgres_cpu_s),
        _num(row.rabbitmq_cpu_s),
        _num(row.redis_cpu_s),
        row.claim_conflicts,
        row.connections,
        row.tally.lost,
        row.tally.completed_twice,
        "-",
    ]


def partition_cells(row: PartitionRow, workers: int) -> list[object]:
    name = "partition" if row.hiccup_s is None else f"hiccup {row.hiccup_s:g} s"
    return [
        f"{name} {row.cut_host}",
        row.hosts * workers,
        row.jobs,
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        row.tally.lost,
        row.tally.completed_twice,
        _num(row.recovery_s),
    ]


def partition_lines(row: PartitionRow) -> list[str]:
    if row.hiccup_s is not None:
        return [
            f"hiccup: {row.cut_host}'s link down {row.hiccup_s:g} s (heartbeat timeout "
            f"{row.heartbeat_timeout_s:g} s) while it held {row.held} run(s): {row.rescued} "
            f"handed back, {row.fenced} late completion(s) refused",
            *(f"  note: {n}" for n in row.notes),
        ]
    lines = [
        f"partition: {row.cut_host} held {row.held} run(s) when its link went down; "
        f"{row.rescued} handed back by heartbeat in {_num(row.rescue_s)} s "
        f"(timeout {row.heartbeat_timeout_s:g} s), {row.completed_elsewhere} completed on "
        f"another host within {_num(row.recovery_s)} s; after the restore "
        f"{row.fenced} late completion(s) refused by the attempt fence",
    ]
    if row.fenced < row.rescued:
        lines.append(
            f"  note: {row.rescued - row.fenced} rescued run(s) never came back late: claims "
            "whose answer the cut swallowed, which the host never ran"
        )
    lines += [f"  note: {n}" for n in row.notes]
    if row.tally.lost:
        lines += [f"  lost: {d}" for d in row.tally.lost_detail]
    return lines


def scale_cells(row: ScaleRow) -> list[object]:
    after = sum(row.after.get(row.host, {}).values())
    return [f"scale --host {row.host}", after, *(["-"] * (len(HEADERS) - 2))]


def cluster_cells(row: ClusterRow, workers: int) -> list[object]:
    return [
        f"broker node down ({row.queue_type})",
        3 * workers,
        row.jobs,
        _num(row.seconds),
        _num(row.jobs / row.seconds if row.seconds > 0 else 0.0, 0),
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        row.tally.lost,
        row.tally.completed_twice,
        "-",
    ]


def cluster_lines(row: ClusterRow) -> list[str]:
    lines = [
        f"broker cluster: 3 RabbitMQ nodes, one per host; {row.queue_type} queue on "
        f"{row.queue_home}; stopped {row.stopped} after a third of the jobs; "
        f"{row.tally.completed} of {row.jobs} completed, lost {row.tally.lost}, "
        f"completed twice {row.tally.completed_twice}"
    ]
    if row.queue_type != "quorum":
        lines.append(
            "  note: this engine declared classic queues (QUEUECONSOLE_QUEUE_TYPE=quorum was "
            "passed but not known to it), so the stopped node was one not holding the queue"
        )
    if not row.settled:
        lines.append("  note: jobs were still open at the end")
    return lines


def scale_lines(row: ScaleRow) -> list[str]:
    return [
        f"remote scale: `scale --host {row.host}` exit {row.exit_code}, {row.answers} "
        f"answer(s); status --json hosts before {row.before}, after {row.after}"
    ]


async def run(args: argparse.Namespace, log_dir: Path) -> int:
    settings = with_demo_jobs(load_settings())
    flags = EngineFlags(workers=args.workers, heartbeat_timeout_s=args.heartbeat_timeout_s)
    rows: list[list[object]] = []
    lines: list[str] = []
    ok = True
    with Network(args.hosts) as network:
        for port in service_ports(settings):
            network.forward(port)
        say(f"{args.hosts} hosts: {', '.join(f'{h.name} {h.inner_ip}' for h in network.hosts)}")
        if not args.skip_throughput:
            for n in range(1, args.hosts + 1):
                row = await throughput(network, settings, n, args.jobs, flags, log_dir, say)
                say(f"{n} host(s): {row.per_second:.0f} jobs/s")
                rows.append(throughput_cells(row))
        if args.hosts >= 2:
            part = await partition(
                network, settings, args.hosts, max(args.jobs // 3, 100), flags, log_dir, say
            )
            rows.append(partition_cells(part, args.workers))
            lines += partition_lines(part)
            ok &= part.tally.clean and part.rescued == part.held
            hiccup_s = args.heartbeat_timeout_s / 2.5
            blip = await partition(
                network, settings, args.hosts, 100, flags, log_dir, say, hiccup_s=hiccup_s
            )
            rows.append(partition_cells(blip, args.workers))
            lines += partition_lines(blip)
            ok &= blip.tally.clean
            scale = await remote_scale(network, settings, args.hosts, flags, log_dir, say)
            rows.append(scale_cells(scale))
            lines += scale_lines(scale)
            ok &= scale.exit_code == 0 and sum(scale.after.get(scale.host, {}).values()) == 1
        else:
            lines.append("partition and remote scale need at least 2 hosts")
    if not args.skip_cluster:
        cluster = await broker_node_down(settings, max(args.jobs // 3, 100), flags, log_dir, say)
        rows.append(cluster_cells(cluster, args.workers))
        lines += cluster_lines(cluster)
        ok &= cluster.tally.clean and cluster.settled
    print_table(HEADERS, rows)
    for line in lines:
        print(line)
    print(f"engine logs: {log_dir}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"bench.hosts: {reason}", file=sys.stderr)
        return 3

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Our own handler for both: asyncio.run's SIGINT handler only cancels the main task
    # once, which a retrying submit may absorb; an exception out of the loop cannot be,
    # and asyncio.run then cancels every task, so every `finally` still cleans up.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="qc-hosts-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(run(args, log_dir))
    except NetnsError as exc:
        print(f"bench.hosts: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as exc:
        print(f"bench.hosts: interrupted ({exc}); namespaces and engines removed", file=sys.stderr)
        return 130
