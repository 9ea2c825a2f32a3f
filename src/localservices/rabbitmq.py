"""A private RabbitMQ node, isolated from the machine's own node in every way Erlang allows.

The machine's node (``rabbit@<host>``, run by the ``rabbitmq`` user) must not
notice ours, so ours has:

- its own node name (``qc-<hex>@localhost``, kept in the directory so data
  written under it is found again after a restart);
- its own ``HOME`` and so its own Erlang cookie: our ``rabbitmqctl`` cannot
  talk to the machine's node, nor the machine's to ours;
- its own ``epmd`` on its own port (``ERL_EPMD_PORT``): the machine's epmd
  never learns about our node, and stopping ours cannot take the machine's
  down with it;
- its own AMQP, distribution, CLI and epmd ports, all on 127.0.0.1;
- its own configuration, plugins, environment, data and log files, so the
  machine's ``/etc/rabbitmq`` (which may enable the management plugin on a
  fixed port, or set ``ERL_FLAGS``) is never read.

RabbitMQ 3.10 checks ``consumer_timeout`` on each channel's periodic tick,
``channel_tick_interval``, 60 s by default: a 5 s timeout would fire anywhere
between 5 and 65 s. When a consumer timeout is set, the tick is shortened to
match, so the timeout fires within about a second of expiring.
"""

from __future__ import annotations

import os
import secrets
import signal
import string
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from localservices.binaries import INSTALL_HINTS, RabbitMQBinaries, find_rabbitmq
from localservices.probe import probe_amqp
from localservices.server import (
    LOOPBACK,
    POLL_INTERVAL_S,
    LocalServiceError,
    PrivateServer,
    _PortTaken,
    accepts,
    clean_environment,
    end_tree,
    free_port,
    port_is_free,
    tail,
)

CTL_TIMEOUT_S = 60.0  # seconds for one rabbitmqctl command
EPMD_START_TIMEOUT_S = 10.0  # seconds for epmd to listen
MAX_TICK_INTERVAL_MS = 1000
"""Longest channel tick used with a consumer timeout: it fires at most this late."""
MIN_TICK_INTERVAL_MS = 100
DEFAULT_TICK_INTERVAL_MS = 60_000
"""RabbitMQ 3.10's own ``channel_tick_interval``."""
LOOPBACK_ERL = "{127,0,0,1}"


def tick_interval_for(consumer_timeout_ms: int) -> int:
    """The channel tick that makes ``consumer_timeout_ms`` fire at most ~20% (≤1 s) late."""
    return max(MIN_TICK_INTERVAL_MS, min(MAX_TICK_INTERVAL_MS, consumer_timeout_ms // 5))


class PrivateRabbitMQ(PrivateServer):
    """A RabbitMQ node of our own: ``amqp://guest:guest@127.0.0.1:<port>/%2F``.

    Starting takes several seconds (an Erlang VM boots, then the broker), so
    a test session starts one and shares it. The ``guest`` user may log in
    because the listener is on 127.0.0.1 only.

    Args:
        state_dir: the state directory; the node lives in ``<state_dir>/rabbitmq``.
        port: the AMQP port on 127.0.0.1; a free one is chosen when ``None``.
        consumer_timeout_ms: how long a delivery may stay unacknowledged before
            the broker closes the channel (PRECONDITION_FAILED); RabbitMQ's
            default (30 minutes) when ``None``.
        tick_interval_ms: the channel tick that checks the timeout; derived from
            ``consumer_timeout_ms`` when ``None`` (see the module docstring).
        binaries: the installation to use (found on this machine when ``None``).
    """

    service: ClassVar[str] = "RabbitMQ"
    key: ClassVar[str] = "rabbitmq"
    default_start_timeout_s: ClassVar[float] = 120.0

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        consumer_timeout_ms: int | None = None,
        *,
        tick_interval_ms: int | None = None,
        binaries: RabbitMQBinaries | None = None,
    ) -> None:
        super().__init__(state_dir, port)
        self.consumer_timeout_ms = consumer_timeout_ms
        self.tick_interval_ms = tick_interval_ms
        self.dist_port: int | None = None
        """Erlang distribution port (nodes and ``rabbitmqctl`` connect here)."""
        self.epmd_port: int | None = None
        """Our own epmd's port."""
        self._binaries = binaries
        self._epmd: subprocess.Popen[bytes] | None = None
        self._node: str | None = None

    @property
    def node(self) -> str:
        """The Erlang node name, e.g. ``qc-1a2b3c4d@localhost``; stable for the directory."""
        if self._node is None:
            path = self.directory / "nodename"
            try:
                self._node = path.read_text().strip()
            except FileNotFoundError:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._node = f"qc-{secrets.token_hex(4)}@localhost"
                path.write_text(self._node + "\n")
        return self._node

    @property
    def url(self) -> str:
        """``amqp://guest:guest@127.0.0.1:<port>/%2F``."""
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/%2F"

    @property
    def node_log_path(self) -> Path:
        """RabbitMQ's own log (the server's output goes to :attr:`log_path`)."""
        return self.directory / "log" / f"{self.node}.log"

    def ctl(self, *args: str, timeout_s: float = CTL_TIMEOUT_S) -> str:
        """Run ``rabbitmqctl -n <node> ARGS`` against this node and return its output."""
        binaries = self._require_binaries()
        if self.dist_port is None or self.epmd_port is None:
            raise self._error(f"rabbitmqctl {' '.join(args)}: the node was never started")
        argv = [str(binaries.ctl), "-n", self.node, *args]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=self.directory,
                env=self._env(),
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise self._error(f"rabbitmqctl {args[0]} took longer than {timeout_s:g} s") from None
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            lines = [line for line in output.splitlines() if line.strip()][:8]
            raise LocalServiceError(
                self.service,
                self._where(),
                f"rabbitmqctl {' '.join(args)} failed with status {done.returncode}: "
                + " / ".join(line.strip() for line in lines),
            )
        return done.stdout.decode(errors="replace").strip()

    def eval(self, expression: str) -> str:
        """Evaluate an Erlang expression on the node (``application:get_env(rabbit, …).``)."""
        return self.ctl("eval", expression)

    def stop_app(self) -> None:
        """Stop the broker but keep the Erlang VM: clients are cut off, the port closes."""
        with self._mutex:
            self.ctl("stop_app")

    def start_app(self, timeout_s: float | None = None) -> None:
        """Start the broker again after :meth:`stop_app`; returns once AMQP answers."""
        with self._mutex:
            self.ctl("start_app", timeout_s=timeout_s or CTL_TIMEOUT_S)
            deadline = time.monotonic() + (timeout_s or CTL_TIMEOUT_S)
            while not probe_amqp(self.url, timeout_s=1.0).ok:
                if time.monotonic() >= deadline:
                    raise self._error("AMQP did not answer after start_app", with_log=True)
                time.sleep(POLL_INTERVAL_S)

    def restart(self, timeout_s: float | None = None, *, app_only: bool = False) -> None:
        """Restart on the same port with the same durable queues and persistent messages.

        ``app_only`` restarts only the broker application inside the running VM
        (``stop_app`` / ``start_app``, about two seconds); otherwise the whole
        node stops and starts again (several seconds), as after a reboot.
        """
        if app_only:
            self.stop_app()
            self.start_app(timeout_s)
        else:
            super().restart(timeout_s)

    def set_consumer_timeout(self, consumer_timeout_ms: int | None) -> None:
        """Change the consumer timeout of the running node (and of its later starts).

        The broker reads it when a channel opens: channels opened afterwards
        get the new value, open ones keep theirs.
        """
        if consumer_timeout_ms is None:
            tick = self.tick_interval_ms or DEFAULT_TICK_INTERVAL_MS
            timeout = "application:unset_env(rabbit, consumer_timeout)"
        else:
            tick = self.tick_interval_ms or tick_interval_for(consumer_timeout_ms)
            timeout = f"application:set_env(rabbit, consumer_timeout, {int(consumer_timeout_ms)})"
        # One eval: each rabbitmqctl call boots an Erlang VM of its own.
        self.eval(f"application:set_env(rabbit, channel_tick_interval, {int(tick)}), {timeout}.")
        self.consumer_timeout_ms = consumer_timeout_ms

    # -- PrivateServer -------------------------------------------------------

    def _require_binaries(self) -> RabbitMQBinaries:
        if self._binaries is None:
            self._binaries = find_rabbitmq()
            if self._binaries is None:
                raise self._error(
                    "rabbitmq-server, rabbitmqctl or epmd is not installed; "
                    + INSTALL_HINTS["rabbitmq"]
                )
        return self._binaries

    def _prepare(self) -> None:
        self._require_binaries()
        home = self.directory / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
            cookie.chmod(0o400)
        for sub in ("mnesia", "log"):
            (self.directory / sub).mkdir(exist_ok=True)

    def _choose_ports(self, fresh: bool) -> None:
        super()._choose_ports(fresh)
        renew = fresh and not self._port_fixed
        if self.dist_port is None or renew:
            self.dist_port = free_port()
        if (self.epmd_port is None or renew) and self._epmd is None:
            self.epmd_port = free_port()

    def _ports(self) -> list[int]:
        ports = [self.port, self.dist_port]
        if self._epmd is None:
            ports.append(self.epmd_port)
        return [p for p in ports if p is not None]

    def _launch(self) -> subprocess.Popen[bytes]:
        binaries = self._require_binaries()
        self._write_config()
        self._start_epmd(binaries)
        return self._popen([str(binaries.server)], self._env())

    def _ready(self) -> bool:
        return probe_amqp(self.url, timeout_s=1.0).ok

    def _after_ready(self, deadline: float) -> None:
        """AMQP answers a moment before the boot's last steps; await_startup waits for them."""
        remaining = max(1, int(deadline - time.monotonic()))
        self.ctl("await_startup", "--timeout", str(remaining), timeout_s=remaining + 10)

    def _ask_to_stop(self, fast: bool) -> None:
        """Fast: SIGTERM, which the start script passes to the VM, which stops the broker
        gracefully (no CLI VM to boot). Otherwise ``rabbitmqctl stop``."""
        if fast:
            if self._process is not None:
                os.kill(self._process.pid, signal.SIGTERM)
        else:
            self.ctl("stop", timeout_s=CTL_TIMEOUT_S)

    def _processes(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in (self._process, self._epmd) if p is not None]

    def _stop_extras(self) -> None:
        if self._epmd is not None:
            end_tree(self._epmd, signal.SIGTERM)
            self._epmd = None

    def _log_files(self) -> list[Path]:
        return [self.directory / "epmd.log", self.node_log_path, self.log_path]

    # -- the node's environment -------------------------------------------------

    def _env(self) -> dict[str, str]:
        """Everything RabbitMQ's scripts read, pointed at our directory and ports."""
        assert self.dist_port is not None and self.epmd_port is not None
        d = self.directory
        env = clean_environment(("RABBITMQ_", "ERL_"))
        interface = f"-kernel inet_dist_use_interface {LOOPBACK_ERL}"
        env.update(
            HOME=str(d / "home"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_USE_LONGNAME="false",
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=interface,
            RABBITMQ_CTL_ERL_ARGS=interface,
            # The CLI's own distribution port: by default DIST_PORT + 10000, which
            # overflows 65535 for high free ports; 0 lets the kernel choose.
            RABBITMQ_CTL_DIST_PORT_MIN="0",
            RABBITMQ_CTL_DIST_PORT_MAX="0",
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS=LOOPBACK,
        )
        if "UTF-8" not in env.get("LC_ALL", env.get("LANG", "")).upper():
            env["LC_ALL"] = "C.UTF-8"
        return env

    def _write_config(self) -> None:
        """Rewritten at every start, so a changed consumer timeout takes effect."""
        d = self.directory
        lines = [
            "# A private node's configuration, rewritten by localservices at every start.",
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}",
            "log.console = false",
            "log.file.level = info",
        ]
        tick = self.tick_interval_ms
        if self.consumer_timeout_ms is not None:
            lines.append(f"consumer_timeout = {int(self.consumer_timeout_ms)}")
            tick = tick or tick_interval_for(self.consumer_timeout_ms)
        (d / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        rabbit_env = f"{{rabbit, [{{channel_tick_interval, {int(tick)}}}]}}" if tick else ""
        (d / "advanced.config").write_text(f"[{rabbit_env}].\n")
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("# deliberately empty: see RABBITMQ_* variables\n")

    def _start_epmd(self, binaries: RabbitMQBinaries) -> None:
        """Our own epmd, unless it survived a :meth:`kill` of the node (as it would a crash)."""
        if self._epmd is not None and self._epmd.poll() is None:
            return
        assert self.epmd_port is not None
        log_path = self.directory / "epmd.log"
        self._log_offsets[log_path] = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as out:
            self._epmd = subprocess.Popen(
                [str(binaries.epmd), "-port", str(self.epmd_port), "-address", LOOPBACK],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=self._env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + EPMD_START_TIMEOUT_S
        while not accepts(self.epmd_port, timeout_s=0.2):
            if self._epmd.poll() is not None:
                self._epmd = None
                if not self._port_fixed and not port_is_free(self.epmd_port):
                    raise _PortTaken
                lines = tail(log_path, self._log_offsets[log_path])
                raise LocalServiceError(
                    self.service, self._where(), "epmd exited while starting", log_path, lines
                )
            if time.monotonic() >= deadline:
                raise self._error(f"epmd did not listen within {EPMD_START_TIMEOUT_S:g} s")
            time.sleep(POLL_INTERVAL_S)
