"""A host cut off from the network mid-run loses nothing and completes nothing twice.

Two hosts are network namespaces (:mod:`bench.netns`) whose engines reach PostgreSQL,
RabbitMQ and Redis only over their own link; the second host's link goes down while it
runs jobs. What a user would notice is asserted: its runs are handed back by the
heartbeat rescuer (``WorkerLost``) and completed by the other host; once the link is
back, the cut-off host's own completions of those runs arrive late and the attempt fence
refuses every one the host knew it ran; at the end no job is lost and none completed
twice. Nothing here is timed: the figures the bench prints (rescue and recovery seconds)
are not asserted.

Namespaces need root; without it (or without ``ip``/``socat``) the tests are skipped with
the reason. Every namespace, link, forwarder and engine is removed at the end, also when
a test fails (fixture finalizers, and the harness's own ``finally``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.hosts.fleet import EngineFlags, service_ports
from bench.hosts.scenarios import partition
from bench.netns import Network, remove_leftovers, unavailable_reason

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no network namespaces: {REASON}")

FLAGS = EngineFlags(workers=1, heartbeat_timeout_s=2.0, reconcile_after_s=1.0, grace_s=3.0)
"""One worker per host and a short heartbeat timeout: the rescue comes within seconds."""


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def network(migrated) -> Iterator[Network]:
    """Two hosts with forwarders to this run's services; removed at the end, always."""
    net = Network(2, tag="t")
    net.create()
    try:
        for port in service_ports(migrated):
            net.forward(port)
        yield net
    finally:
        net.close()
    assert not {h.netns for h in net.hosts} & namespaces(), "a namespace was left behind"
    assert net.prefix not in links(), "a link was left behind"


def log_tails(log_dir: Path) -> str:
    """The end of every engine's log, for an assertion message."""
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in log_dir.rglob("*.log"))


def reaches(host, address: str, port: int) -> bool:
    """Whether a TCP connection from inside ``host`` to ``address:port`` opens."""
    probe = f"exec 3<>/dev/tcp/{address}/{port}"
    done = subprocess.run(
        host.command(["timeout", "3", "bash", "-c", probe]), capture_output=True, check=False
    )
    return done.returncode == 0


def test_a_cut_link_partitions_the_host_and_a_restore_heals_it(network, migrated):
    host = network.hosts[1]
    port = service_ports(migrated)[0]
    assert reaches(host, host.outer_ip, port)
    network.cut(host)
    assert not reaches(host, host.outer_ip, port)
    assert reaches(network.hosts[0], network.hosts[0].outer_ip, port)  # others unaffected
    network.restore(host)
    assert reaches(host, host.outer_ip, port)


async def test_a_partitioned_hosts_runs_are_rescued_and_its_late_completions_fenced(
    network, migrated, tmp_path: Path
):
    row = await partition(
        network, migrated, 2, 40, FLAGS, tmp_path, lambda line: None, long_job_s=3.0
    )
    explain = f"{row}\n--- engine logs (tails) ---\n{log_tails(tmp_path)}"
    assert row.held >= 1, explain
    assert row.rescued == row.held, explain  # handed back by heartbeat (WorkerLost)
    assert row.completed_elsewhere == row.held, explain
    # Every run the host knew it ran came back late and was refused by the fence. (A claim
    # whose answer the cut swallowed is rescued too, but the host never ran it.)
    assert row.known >= 1, explain
    assert row.known <= row.fenced <= row.rescued, explain
    assert row.tally.lost == 0, explain
    assert row.tally.completed_twice == 0, explain
    assert row.tally.completed == row.jobs, explain


def test_a_crashed_runs_namespaces_are_removed_by_the_next_run():
    dead = next(p for p in range(4_000_000, 3_000_000, -1) if not os.path.exists(f"/proc/{p}"))
    name = f"qct{dead}-0"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        removed = remove_leftovers()
        assert f"namespace {name}" in removed
        assert name not in namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_a_failure_while_building_removes_what_was_built(monkeypatch):
    net = Network(3, tag="t")
    built = []
    real = Network._make_host

    def failing(self, i):
        if i == 2:
            raise RuntimeError("third host refused")
        host = real(self, i)
        built.append(host.netns)
        return host

    monkeypatch.setattr(Network, "_make_host", failing)
    with pytest.raises(RuntimeError, match="third host refused"):
        net.create()
    assert len(built) == 2
    assert not set(built) & namespaces()
    assert net.prefix not in links()
