"""A three-node RabbitMQ cluster, one node per network-namespace host.

Each node runs the installed ``rabbitmq-server`` inside its host's namespace
(``ip netns exec``), so every node has the standard ports to itself — AMQP 5672, the
Erlang distribution on 25672 and its own ``epmd`` on 4369 — on its host's address,
and the nodes meet over the bridge of a ``bridged`` :class:`~bench.netns.Network`:

- node names are long names on the host's address (``rabbit@10.213.N.1``), so no name
  resolution is needed;
- one Erlang cookie, written into each node's own ``HOME``;
- its own data, log and config directory (``RABBITMQ_MNESIA_BASE`` …) under one state
  directory, removed at the end; the machine's ``/etc/rabbitmq`` is never read;
- the cluster forms at boot by classic peer discovery (every node lists all three);
- ``loopback_users = none``: guest may log in over the links (a test cluster on a
  private subnet; never do this on a reachable network).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time
from pathlib import Path

from bench.netns import Host, Network
from localservices.binaries import find_rabbitmq
from localservices.probe import probe_amqp

AMQP_PORT = 5672
DIST_PORT = 25672
BOOT_TIMEOUT_S = 180.0  # seconds for all three nodes to boot and cluster
CTL_TIMEOUT_S = 90.0  # seconds for one rabbitmqctl call


class ClusterError(RuntimeError):
    """The cluster could not be started or queried; the message says which node and why."""


class RabbitNode:
    """One node of the cluster, in ``host``'s namespace."""

    def __init__(self, host: Host, directory: Path, cookie: str, peers: list[str]) -> None:
        self.host = host
        self.directory = directory
        self.name = f"rabbit@{host.inner_ip}"
        self.cookie = cookie
        self.peers = peers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients reach this node (from any host, or the bridge's address)."""
        return f"amqp://guest:guest@{self.host.inner_ip}:{AMQP_PORT}/%2F"

    def env(self) -> dict[str, str]:
        d = self.directory
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(d / "home"),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_USE_LONGNAME="true",
            RABBITMQ_NODE_IP_ADDRESS=self.host.inner_ip,
            RABBITMQ_NODE_PORT=str(AMQP_PORT),
            RABBITMQ_DIST_PORT=str(DIST_PORT),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_CTL_DIST_PORT_MIN="0",
            RABBITMQ_CTL_DIST_PORT_MAX="0",
            LC_ALL="C.UTF-8",
        )
        return env

    def prepare(self) -> None:
        d = self.directory
        for sub in ("home", "mnesia", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        cookie = d / "home" / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)
        lines = [
            f"listeners.tcp.1 = {self.host.inner_ip}:{AMQP_PORT}",
            "loopback_users = none",
            "log.console = false",
            "log.file.level = info",
            "cluster_formation.peer_discovery_backend = classic_config",
            *(
                f"cluster_formation.classic_config.nodes.{i + 1} = {p}"
                for i, p in enumerate(self.peers)
            ),
        ]
        (d / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (d / "advanced.config").write_text("[].\n")
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("# empty: see RABBITMQ_* variables\n")

    def start(self) -> None:
        binaries = find_rabbitmq()
        if binaries is None:
            raise ClusterError("rabbitmq-server, rabbitmqctl or epmd is not installed")
        with (self.directory / "server.out").open("ab") as out:
            self.process = subprocess.Popen(
                self.host.command([str(binaries.server)]),
                env=self.env(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ctl(self, *args: str, timeout_s: float = CTL_TIMEOUT_S) -> str:
        """``rabbitmqctl -n NODE ARGS`` from inside the node's own host."""
        binaries = find_rabbitmq()
        if binaries is None:
            raise ClusterError("rabbitmqctl is not installed")
        done = subprocess.run(
            self.host.command([str(binaries.ctl), "-l", "-n", self.name, *args]),
            env=self.env(),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"{self.name}: rabbitmqctl {' '.join(args)}: {(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def stop(self) -> None:
        """A clean stop (SIGTERM: the node leaves the cluster's running set, data kept)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        texts = []
        for path in [
            self.directory / "server.out",
            *sorted((self.directory / "log").glob("*.log")),
        ]:
            with contextlib.suppress(OSError):
                texts.append(
                    f"== {path.name}\n"
                    + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                )
        return "\n".join(texts)


class RabbitCluster:
    """Three (or ``len(network.hosts)``) nodes, one per host of a bridged network."""

    def __init__(self, network: Network) -> None:
        if not network.bridged:
            raise ClusterError("the nodes must reach each other: give a bridged network")
        self.network = network
        self.state_dir = Path(tempfile.mkdtemp(prefix="qc-rabbit-cluster-"))
        cookie = "".join(secrets.choice(string.ascii_uppercase) for _ in range(32))
        peers = [f"rabbit@{h.inner_ip}" for h in network.hosts]
        self.nodes = [RabbitNode(h, self.state_dir / h.name, cookie, peers) for h in network.hosts]

    def __enter__(self) -> RabbitCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        for node in self.nodes:
            node.prepare()
            node.start()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        for node in self.nodes:
            while not probe_amqp(node.url, timeout_s=1.0).ok:
                if node.process is not None and node.process.poll() is not None:
                    raise ClusterError(f"{node.name} exited while booting:\n{node.log_tail()}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"{node.name} did not answer AMQP:\n{node.log_tail()}")
                time.sleep(0.5)
        running = self.running_nodes()
        if len(running) < len(self.nodes):
            raise ClusterError(f"only {', '.join(running)} clustered")

    def running_nodes(self, via: RabbitNode | None = None) -> list[str]:
        """The cluster's running nodes, as ``via`` (the first live node) sees them."""
        node = via or next(n for n in self.nodes if n.process and n.process.poll() is None)
        deadline = time.monotonic() + 60
        while True:
            out = node.ctl("eval", "rabbit_nodes:all_running().")
            names = sorted(set(_atoms(out)))
            if len(names) >= len(self.nodes) or time.monotonic() > deadline:
                return names
            time.sleep(1)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _atoms(erlang_list: str) -> list[str]:
    """The quoted node names in an Erlang list such as ``['rabbit@10.0.0.1',…]``."""
    return [
        part
        for part in erlang_list.replace("'", " ").replace(",", " ").strip("[] \n").split()
        if "@" in part
    ]
