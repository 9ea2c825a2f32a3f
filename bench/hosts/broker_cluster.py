"""A broker node stopped mid-run: three hosts, each with an engine and a RabbitMQ node.

The hosts sit on one bridge (:class:`~bench.netns.Network` ``bridged``) so the three
RabbitMQ nodes cluster (:mod:`bench.hosts.rabbit_cluster`); each host's engine uses its
own node, and PostgreSQL and Redis through the forwarders on the bridge. The harness
submits through node 1 from the root namespace. Once a third of the work is done, one
node is stopped for good; the run then has to finish on the other two.

Queues are declared as quorum queues (``queue_type = "quorum"``, replicated on the three
nodes) and the node stopped is the one leading the engine queue. The row says which
type the cluster really holds, as RabbitMQ lists it. Should it hold classic queues
(a queue on one node only), the node stopped is one that does not hold it: the point
is then the engines on the stopped node's host, not the queue.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench.chaos.measure import Tally, tally
from bench.chaos.workload import build, count
from bench.hosts.fleet import AMQP_HEARTBEAT_S, POLL_S, EngineFlags, Fleet
from bench.hosts.rabbit_cluster import RabbitCluster, RabbitNode
from bench.hosts.scenarios import THROUGHPUT_MIX, Say, scratch, settle, submit_all
from bench.netns import Network
from engine.config import Settings
from engine.db.database import Database
from engine.runtime.wiring import open_client

STOP_AT_SHARE = 1 / 3  # of the jobs completed when the node is stopped
_COMPLETED = text("SELECT count(*) FROM jobs WHERE state = 'completed'")


@dataclass(frozen=True, slots=True)
class ClusterRow:
    jobs: int
    seconds: float
    queue_type: str
    stopped: str
    queue_home: str
    tally: Tally
    settled: bool


def queue_placement(node: RabbitNode, namespace: str) -> tuple[str, str]:
    """(type, node) of the namespace's engine queue: the leader of a quorum queue, the
    one node of a classic one."""
    out = node.ctl("list_queues", "-q", "--no-table-headers", "name", "type", "pid", "leader")
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith(namespace) and parts[0].endswith(".hosts"):
            kind = parts[1] if len(parts) > 1 else "?"
            where = re.search(r"rabbit@\d+\.\d+\.\d+\.\d+", " ".join(parts[2:]))
            return kind, where.group(0) if where else "?"
    return "?", "?"


async def broker_node_down(
    settings: Settings, jobs: int, flags: EngineFlags, log_dir: Path, say: Say
) -> ClusterRow:
    """Run the workload on three hosts with a clustered broker; stop one node mid-run."""
    batches = build(jobs, seed=13, mix=THROUGHPUT_MIX, queues=(flags.queue,))
    total = count(batches)
    with Network(3, tag="c", bridged=True) as network:
        for port in (5432, 6379):
            network.forward(port)
        say("cluster: booting three RabbitMQ nodes")
        with RabbitCluster(network) as cluster:
            say(f"cluster: {', '.join(cluster.running_nodes())} running")
            first = cluster.nodes[0]
            # The engines get their settings from these (the queue type included).
            root = settings.evolve(amqp_url=first.url, queue_type="quorum")
            urls = {n.host.name: f"{n.url}?heartbeat={AMQP_HEARTBEAT_S}" for n in cluster.nodes}
            async with scratch(root, "c") as own:
                db = Database(own)
                sub = log_dir / "cluster"
                sub.mkdir(parents=True, exist_ok=True)
                fleet = Fleet(network, own, 3, flags, sub, amqp_urls=urls)
                try:
                    await fleet.start(db)
                    began = time.monotonic()
                    async with open_client(own, database=db) as client:
                        submitting = asyncio.create_task(submit_all(client, batches))
                        await _wait_completed(db, int(total * STOP_AT_SHARE))
                        kind, home = await asyncio.to_thread(queue_placement, first, own.namespace)
                        victim = next(
                            n for n in reversed(cluster.nodes) if kind == "quorum" or n.name != home
                        )
                        say(f"cluster: {kind} queue on {home}; stopping {victim.name}")
                        await asyncio.to_thread(victim.stop)
                        await submitting
                    settled = await settle(db, total)
                    seconds = time.monotonic() - began
                    counted = await tally(db)
                finally:
                    await fleet.stop()
                    await db.close()
    return ClusterRow(total, seconds, kind, victim.name, home, counted, settled)


async def _wait_completed(db: Database, want: int, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with db.connection() as conn:
            if int(await conn.scalar(_COMPLETED) or 0) >= want:
                return
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"fewer than {want} jobs completed within {timeout_s:g} s")
