"""A RabbitMQ node stopped mid-run: the work finishes on the rest of the cluster.

Three namespace hosts on a bridge each run an engine and one node of a 3-node RabbitMQ
cluster (:mod:`bench.hosts.broker_cluster`); a node is stopped once a third of the jobs
completed. Nothing may be lost and nothing completed twice. Skipped without root, the
namespace tools or the RabbitMQ server binaries, saying which.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.hosts.broker_cluster import broker_node_down
from bench.hosts.fleet import EngineFlags
from bench.netns import unavailable_reason
from localservices.binaries import find_rabbitmq

REASON = unavailable_reason() or (
    None if find_rabbitmq() is not None else "rabbitmq-server, rabbitmqctl or epmd missing"
)
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no broker cluster: {REASON}")

FLAGS = EngineFlags(workers=1, heartbeat_timeout_s=2.0, reconcile_after_s=1.0, grace_s=3.0)


async def test_a_stopped_broker_node_loses_nothing_and_completes_nothing_twice(
    migrated, tmp_path: Path
):
    row = await broker_node_down(migrated, 150, FLAGS, tmp_path, lambda line: None)
    assert row.queue_type == "quorum", row  # replicated: the stopped node held a leader
    assert row.settled, row
    assert row.tally.lost == 0, row
    assert row.tally.completed_twice == 0, row
    assert row.tally.completed == row.jobs, row
    assert row.stopped.startswith("rabbit@"), row
