"""Hosts on one machine: Linux network namespaces joined to the root one by veth links.

Each "host" is a network namespace with one veth pair: ``<tag><pid>h<i>`` stays in
the root namespace with ``10.213.N.(4i+1)/30``, ``<tag><pid>n<i>`` moves into the host
with ``10.213.N.(4i+2)/30``. Nothing is routed anywhere else: the host sees only its
link's /30 (and its own loopback), and the root side only gains the connected routes
of those /30s. The shared services keep listening on 127.0.0.1 in the root namespace;
a host reaches them through one ``socat`` forwarder per service bound on its link's
root-side address (:meth:`Network.forward`). Because every byte of a host's traffic
crosses its own link, :meth:`Network.cut` (``ip link set … down`` on the root side)
partitions that host for real: established connections stall, new ones fail, as when
a cable is pulled, and :meth:`Network.restore` brings the same connections back.

With ``bridged=True`` the hosts also see each other (a RabbitMQ cluster's nodes must):
the root-side ends join one bridge ``<tag><pid>br`` holding ``10.213.N.254/24``, and the
hosts take ``10.213.N.(i+1)/24``. It is still layer 2 only: nothing is forwarded at the IP
level, and cutting a host's link still partitions it from everyone.

Everything is removed at the end, always: :class:`Network` is a context manager,
registers an ``atexit`` hook, and on creation removes what a previous run that
crashed (its pid no longer alive) left behind, found by the name prefix: namespaces,
root-side links and the forwarders listed in its state file.

Needs root, ``ip`` (iproute2) and ``socat``; :func:`unavailable_reason` says which
is missing, for a skip or an exit message.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

PREFIX = "qc"
"""Every namespace and link this module makes starts with it (``qc<tag><pid>…``)."""
SUBNET_BASE = "10.213"
"""Hosts live in ``10.213.N.0/24``: a private block that nothing else here uses."""
MAX_HOSTS = 16
"""Hosts per network: sixteen /30s fill half of the /24, far more than 2 cores run."""
STATE_DIR = Path("/run/queueconsole-netns")
"""One JSON file per live network: its pid, names and forwarder pids, for the cleanup
of a crashed run."""
FORWARDER_START_S = 5.0  # seconds a forwarder may take to listen before it counts as failed
IP_TIMEOUT_S = 20.0  # seconds any one `ip` command may take
LINK_UP_S = 10.0  # seconds a restored link may take to have carrier on both ends
_TAG_RE = re.compile(r"^[a-z]{1,2}\Z")


class NetnsError(RuntimeError):
    """A namespace, link or forwarder could not be made; the message names which."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here (not root, no ``ip``, no ``socat``), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add), and this runs as a normal user"
    for tool in ("ip", "socat"):
        if shutil.which(tool) is None:
            return f"{tool!r} is not installed (needed to build namespaces and forwarders)"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; a failure raises :class:`NetnsError` with ip's own message."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
    )
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_forwarder(pid: int) -> bool:
    """True when ``pid`` is still a socat forwarder (a recycled pid must not be killed)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and Path(cmdline[0].decode(errors="replace")).name == "socat"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


def _kill_inside(netns: str) -> list[int]:
    """SIGKILL every process still inside ``netns`` (only this module's runs put any there:
    an engine's stray worker, a daemon such as ``epmd -daemon`` that left its session).
    A namespace holding a process outlives ``ip netns del``, and so would its traffic."""
    out = _ip("netns", "pids", netns, check=False).stdout
    pids = [int(p) for p in out.split() if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


@dataclass(frozen=True, slots=True)
class Host:
    """One namespace and its link."""

    index: int
    name: str
    """The host's name (``host-1``…): what its engine calls itself."""
    netns: str
    """The namespace (``ip netns exec NETNS …``)."""
    outer_link: str
    """The veth end in the root namespace: the one :meth:`Network.cut` sets down."""
    inner_link: str
    outer_ip: str
    """The root side's address: where the host reaches the forwarders."""
    inner_ip: str
    """The host's own address."""

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class Network:
    """``count`` hosts on links of their own, removed again on exit.

    Args:
        count: how many hosts (1 to :data:`MAX_HOSTS`).
        tag: one or two lowercase letters naming the user (``b`` bench, ``t`` tests), so
            names say who made them.
        subnet: the third octet N of ``10.213.N.0/24``; by default derived from the pid,
            so two runs at once use different subnets.
        bridged: hosts on one bridge, reaching each other (see the module docstring).
    """

    count: int
    tag: str = "b"
    subnet: int | None = None
    bridged: bool = False
    hosts: list[Host] = field(default_factory=list)
    _forwarders: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _cut: set[str] = field(default_factory=set)
    _closed: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_HOSTS:
            raise NetnsError(f"{self.count} hosts: give 1 to {MAX_HOSTS}")
        if not _TAG_RE.match(self.tag):
            raise NetnsError(f"tag {self.tag!r}: give one or two lowercase letters")
        if self.subnet is None:
            self.subnet = 1 + os.getpid() % 250
        if not 0 <= self.subnet <= 255:
            raise NetnsError(f"subnet {self.subnet}: give 0 to 255")
        self.prefix = f"{PREFIX}{self.tag}{os.getpid()}"
        """Names of this network: ``qcb1234h0`` (links), ``qcb1234-0`` (namespaces)."""

    # -- life cycle -----------------------------------------------------------------

    def __enter__(self) -> Network:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create(self) -> None:
        """Remove a crashed run's leftovers, then make every namespace and link.

        If anything fails part way, what was made is removed before the error rises.
        """
        reason = unavailable_reason()
        if reason is not None:
            raise NetnsError(reason)
        remove_leftovers()
        atexit.register(self.close)
        try:
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            self._save_state()
            if self.bridged:
                _ip("link", "add", self.bridge, "type", "bridge")
                _ip("addr", "add", f"{self._address(254)}/24", "dev", self.bridge)
                _ip("link", "set", self.bridge, "up")
            for i in range(self.count):
                self.hosts.append(self._make_host(i))
        except BaseException:
            self.close()
            raise

    @property
    def bridge(self) -> str:
        """The bridge's name (``bridged`` networks only)."""
        return f"{self.prefix}br"

    def _address(self, offset: int) -> str:
        base = int(ipaddress.IPv4Address(f"{SUBNET_BASE}.{self.subnet}.0"))
        return str(ipaddress.IPv4Address(base + offset))

    def _make_host(self, i: int) -> Host:
        if self.bridged:
            outer_ip, inner_ip, length = self._address(254), self._address(i + 1), 24
        else:
            outer_ip, inner_ip, length = self._address(4 * i + 1), self._address(4 * i + 2), 30
        host = Host(
            index=i,
            name=f"host-{i + 1}",
            netns=f"{self.prefix}-{i}",
            outer_link=f"{self.prefix}h{i}",
            inner_link=f"{self.prefix}n{i}",
            outer_ip=outer_ip,
            inner_ip=inner_ip,
        )
        _ip("netns", "add", host.netns)
        _ip("link", "add", host.outer_link, "type", "veth", "peer", "name", host.inner_link)
        _ip("link", "set", host.inner_link, "netns", host.netns)
        if self.bridged:
            _ip("link", "set", host.outer_link, "master", self.bridge)
        else:
            _ip("addr", "add", f"{host.outer_ip}/{length}", "dev", host.outer_link)
        _ip("link", "set", host.outer_link, "up")
        inside = ("-n", host.netns)
        _ip(*inside, "addr", "add", f"{host.inner_ip}/{length}", "dev", host.inner_link)
        _ip(*inside, "link", "set", host.inner_link, "up")
        _ip(*inside, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        """Stop the forwarders, delete the namespaces (their links go with them). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for proc in self._forwarders:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self._forwarders:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        for i in range(self.count):
            _kill_inside(f"{self.prefix}-{i}")
            _ip("netns", "del", f"{self.prefix}-{i}", check=False)
            _ip("link", "del", f"{self.prefix}h{i}", check=False)
        if self.bridged:
            _ip("link", "del", self.bridge, check=False)
        with contextlib.suppress(OSError):
            self._state_file.unlink()
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # -- forwarders, partitions -------------------------------------------------------

    def forward(self, port: int, target: str = "127.0.0.1") -> None:
        """Let every host reach ``target:port`` at ``outer_ip:port`` (one socat per host).

        ``reuseaddr,fork``: each connection gets its own child, so one stalled by a cut
        link does not hold up the others when it comes back.
        """
        for host in {h.outer_ip: h for h in self.hosts}.values():  # bridged: one address
            argv = [
                "socat",
                f"TCP-LISTEN:{port},bind={host.outer_ip},reuseaddr,fork",
                f"TCP:{target}:{port}",
            ]
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            self._forwarders.append(proc)
            self._save_state()
            self._wait_listening(proc, host.outer_ip, port)

    def _wait_listening(self, proc: subprocess.Popen[bytes], address: str, port: int) -> None:
        deadline = time.monotonic() + FORWARDER_START_S
        needle = f"{int(ipaddress.IPv4Address(address)).to_bytes(4, 'little').hex().upper()}:"
        needle += f"{port:04X}"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise NetnsError(f"forwarder to port {port} on {address} exited: {err.strip()}")
            if needle in Path("/proc/net/tcp").read_text():
                return
            time.sleep(0.05)
        raise NetnsError(f"forwarder to port {port} on {address} did not listen in time")

    def cut(self, host: Host) -> None:
        """Partition ``host``: its link goes down, in flight traffic stalls."""
        _ip("link", "set", host.outer_link, "down")
        self._cut.add(host.name)

    def restore(self, host: Host) -> None:
        """Bring ``host``'s link back; stalled connections resume where they were.

        Returns once both ends have carrier again: until then the host's kernel still
        answers "network unreachable" at once, which is not what a healed link does.
        """
        _ip("link", "set", host.outer_link, "up")
        deadline = time.monotonic() + LINK_UP_S
        while time.monotonic() < deadline:
            outer = _ip("-o", "link", "show", host.outer_link).stdout
            inner = _ip("-n", host.netns, "-o", "link", "show", host.inner_link).stdout
            if "LOWER_UP" in outer and "LOWER_UP" in inner:
                break
            time.sleep(0.02)
        else:
            raise NetnsError(f"link of {host.name} did not come back up in {LINK_UP_S:g} s")
        # Addresses probed during the cut are remembered as unreachable for a while
        # (neighbour state FAILED: "no route to host" at once); forget them both ways.
        _ip("-n", host.netns, "neigh", "flush", "dev", host.inner_link, check=False)
        _ip("neigh", "flush", "dev", host.outer_link, check=False)
        self._cut.discard(host.name)

    def is_cut(self, host: Host) -> bool:
        """Whether :meth:`cut` took ``host`` off the network (and no restore followed)."""
        return host.name in self._cut

    def host(self, name: str) -> Host:
        """The host called ``name``."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise NetnsError(f"no host {name!r}: have {', '.join(h.name for h in self.hosts)}")

    # -- crash cleanup ----------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return STATE_DIR / f"{self.prefix}.json"

    def _save_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "prefix": self.prefix,
            "count": self.count,
            "forwarders": [p.pid for p in self._forwarders],
        }
        self._state_file.write_text(json.dumps(state))


_NAME_RE = re.compile(rf"^{PREFIX}[a-z]{{1,2}}(\d+)(?:-\d+|[hn]\d+|br)\Z")


def _owner(name: str) -> int | None:
    """The pid that made a namespace or link called ``name``, or None if not ours."""
    match = _NAME_RE.match(name)
    return int(match.group(1)) if match else None


def remove_leftovers() -> list[str]:
    """Remove what runs whose process is gone left behind; returns what was removed.

    Only names of this module's form whose pid is dead are touched, so a concurrent
    run (another test session, a bench) keeps its namespaces.
    """
    removed: list[str] = []
    if STATE_DIR.is_dir():
        for path in STATE_DIR.glob(f"{PREFIX}*.json"):
            try:
                state = json.loads(path.read_text())
                pid, forwarders = int(state["pid"]), [int(p) for p in state["forwarders"]]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if _alive(pid):
                continue
            for fpid in forwarders:
                if _is_forwarder(fpid):
                    _kill(fpid)
                    removed.append(f"forwarder {fpid}")
            with contextlib.suppress(OSError):
                path.unlink()
    for name in _ip("netns", "list", check=False).stdout.split():
        owner = _owner(name)
        if owner is not None and not _alive(owner):
            removed += [f"process {pid}" for pid in _kill_inside(name)]
            _ip("netns", "del", name, check=False)
            removed.append(f"namespace {name}")
    links = _ip("-o", "link", "show", check=False).stdout
    for match in re.finditer(r"^\d+: ([^:@\s]+)", links, re.MULTILINE):
        owner = _owner(match.group(1))
        if owner is not None and not _alive(owner):
            _ip("link", "del", match.group(1), check=False)
            removed.append(f"link {match.group(1)}")
    return removed
