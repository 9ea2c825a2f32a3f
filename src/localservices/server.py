"""What every private server shares: ports, a directory lock, pid records, logs, signals.

A private server is a child process of ours started in its own session, so
a Ctrl-C at the terminal reaches us (and we stop the server in order) rather
than the server half-way through something. Its process groups are written
to ``pids.json`` in its directory *before* we wait for it to become ready, so
a run that dies at any moment leaves a record behind; the next start on the
same directory kills what that run left instead of fighting it for ports and
data files. A ``flock`` on ``lock`` (released by the kernel when its holder
dies, however it dies) tells a crashed run's leftovers from a live run's
servers, which are never touched.

Killing covers a server's whole process tree, found before the leader is
signalled (once it is gone its children are re-parented and cannot be told
apart): descendants, because PostgreSQL's children each call ``setsid`` and
so leave the postmaster's process group, plus the leader's process group,
for anything that left the tree but not the group. Processes are signalled
through psutil, which checks a pid still names the process it found, and a
group only while its leader is known to be ours (exited but not yet reaped),
so a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import psutil

from engine.errors import ServiceUnavailable

LOOPBACK = "127.0.0.1"
"""Every private server listens here and nowhere else."""
LOG_TAIL_LINES = 15
"""How much of a server's log an error message quotes."""
STOP_TIMEOUT_S = 30.0  # seconds a graceful stop may take before escalating
KILL_WAIT_S = 10.0  # seconds to wait for SIGKILLed processes to disappear
POLL_INTERVAL_S = 0.05  # seconds between readiness checks
PORT_RELEASE_WAIT_S = 10.0  # seconds our own ports may take to close after a stop or kill
PORT_ATTEMPTS = 3
"""Starts tried with fresh free ports when another process took the chosen one first
(several test runs on one machine pick ports concurrently)."""
PIDS_FILE = "pids.json"
LOCK_FILE = "lock"

log = logging.getLogger(__name__)


class LocalServiceError(ServiceUnavailable):
    """A private server could not be started, stopped or used.

    One message says which server, where, and why; when the server itself
    said why, the last lines of its log follow, so nobody has to go and find
    the log to learn that the port was taken or the disk is full.
    """

    def __init__(
        self,
        service: str,
        where: str,
        reason: str,
        log_path: Path | None = None,
        log_tail: Sequence[str] = (),
    ) -> None:
        self.log_path = log_path
        self.log_tail = tuple(log_tail)
        text = reason
        if self.log_tail:
            text += f"; last lines of {log_path}:\n" + "\n".join(
                f"    {line}" for line in self.log_tail
            )
        # Not ServiceUnavailable.__init__: its "X is unavailable at URL" wording is
        # about a configured service; this is about one we tried to run ourselves.
        Exception.__init__(self, f"private {service} ({where}): {text}")
        self.service = service
        self.masked_url = where
        self.reason = text


class _PortTaken(Exception):
    """Another process bound a port we had chosen between our check and the server's bind."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:port now.

    ``SO_REUSEADDR`` as the servers themselves set it, so a port of ours that
    is merely in TIME_WAIT after a stop counts as free, while a listener on it
    (on 127.0.0.1 or on every address) does not.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def accepts(port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` non-empty lines of ``path`` written after byte ``start``."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(start, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


def clean_environment(drop_prefixes: Sequence[str]) -> dict[str, str]:
    """Our environment without variables that would point a server somewhere else.

    A developer's ``PGDATA`` or ``RABBITMQ_NODENAME`` must not make a private
    server open the machine's data directory or impersonate its node.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop_prefixes))}


class _DirLock:
    """An exclusive ``flock`` on a server directory, held while we run a server there."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path, service: str) -> _DirLock:
        path = directory / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise LocalServiceError(
                service,
                str(directory),
                f"the directory is in use by another running process (pid {holder}); "
                "give each run its own state directory",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
    """Every live process in process group ``pgid``."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and _alive(proc):
                members.append(proc)
    return members


def process_tree(pid: int) -> list[psutil.Process]:
    """The live process ``pid``, its descendants, and the rest of its process group."""
    found: dict[int, psutil.Process] = {}
    try:
        leader = psutil.Process(pid)
        for proc in [leader, *leader.children(recursive=True)]:
            found[proc.pid] = proc
    except psutil.Error:
        pass
    for proc in _group_members(pid):
        found.setdefault(proc.pid, proc)
    return [proc for proc in found.values() if _alive(proc)]


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running()
    except psutil.Error:
        return True


def _wait_dead(
    processes: Iterable[psutil.Process], timeout_s: float = KILL_WAIT_S, reaped: bool = False
) -> None:
    """Wait until none of ``processes`` runs; a zombie counts as dead unless ``reaped``.

    Not ``psutil.wait_procs``: that always waits for zombies to be reaped,
    which for orphans is init's business and, under some container inits,
    slow; and it would reap our own child behind ``Popen``'s back.
    """
    done = _gone if reaped else (lambda proc: not _alive(proc))
    deadline = time.monotonic() + timeout_s
    remaining = [proc for proc in processes if not done(proc)]
    while remaining and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S / 5)
        remaining = [proc for proc in remaining if not done(proc)]


def _kill_all(processes: Iterable[psutil.Process], reaped: bool = False) -> None:
    """SIGKILL each (psutil refuses a pid that now names another process) and wait."""
    targets = [proc for proc in processes if _alive(proc)]
    for proc in targets:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_dead(targets, reaped=reaped)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` has exited, *without* reaping it.

    While the leader is an unreaped zombie its pid (and so its process group
    id) cannot be reused, so signalling the group afterwards only ever hits
    our own leftovers.
    """
    if proc.returncode is not None:
        return True
    try:
        result = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll() is not None
    return result is not None


def _wait_exited(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)
    return True


def end_tree(
    proc: subprocess.Popen[bytes],
    sig: int = signal.SIGKILL,
    known: Iterable[psutil.Process] = (),
) -> None:
    """End our child ``proc`` and everything it started, then reap it.

    ``sig`` goes to the leader's process group first; whatever is still
    running afterwards — including ``known`` processes, the tree as it was
    before a graceful stop was asked for — is killed. Nothing is left.
    """
    tree = list(known)
    if not _exited(proc):
        tree += process_tree(proc.pid)
        _killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            _kill_all(tree)
        elif not _wait_exited(proc, KILL_WAIT_S):
            log.warning("pid %d ignored signal %d for %g s; killing it", proc.pid, sig, KILL_WAIT_S)
    _wait_exited(proc, KILL_WAIT_S)
    _kill_all([*tree, *_group_members(proc.pid)])
    _killpg(proc.pid, signal.SIGKILL)  # only our zombie leader's group can have this id
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_WAIT_S)


def reap_stale(directory: Path, keep: Iterable[int] = ()) -> int:
    """Kill the process trees a previous, crashed run recorded in ``directory``.

    Only called while holding the directory's lock, so whatever the record
    names was started by a run that is gone. A recorded leader that is alive
    but not the recorded process (another start time) got a recycled pid and
    is left alone; a dead leader's group is still cleared (its pid cannot be
    reused as a group id while members remain). Returns how many processes
    were killed.
    """
    path = directory / PIDS_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    killed: list[psutil.Process] = []
    for entry in record.get("groups", []):
        pid, created = int(entry["pid"]), float(entry["create_time"])
        if pid in keep:
            continue
        leader_created = _create_time(pid)
        if leader_created is not None and abs(leader_created - created) > 0.5:
            continue  # the pid was recycled by an unrelated process
        tree = process_tree(pid) if leader_created is not None else _group_members(pid)
        # Until init has reaped them: a zombie postmaster's pid in postmaster.pid
        # still looks like a running server to the next one.
        _kill_all(tree, reaped=True)
        killed.extend(tree)
    path.unlink(missing_ok=True)
    if killed:
        log.warning(
            "stopped %d process(es) left running in %s by a run that ended without stopping them",
            len(killed),
            directory,
        )
    return len(killed)


def clean_crashed(state_dir: str | os.PathLike[str]) -> int | None:
    """Kill what crashed runs left in ``state_dir`` (every server subdirectory).

    Returns how many processes were killed, or ``None`` when a live run
    holds one of the subdirectories (whose servers are left alone): the
    directory is in use and must not be removed.
    """
    killed = 0
    for lock_path in sorted(Path(state_dir).glob(f"*/{LOCK_FILE}")):
        directory = lock_path.parent
        try:
            lock = _DirLock.acquire(directory, directory.name)
        except LocalServiceError:
            return None
        try:
            killed += reap_stale(directory)
        finally:
            lock.release()
    return killed


class PrivateServer(ABC):
    """A server of our own on 127.0.0.1, with its data under ``state_dir/<key>``.

    The port is chosen on the first start (a free one unless given) and kept
    for every later start, so a restart — the chaos harness's "stopped and
    restarted mid-run" — brings the server back where its clients look for it.
    Methods are safe to call from several threads (one at a time).
    """

    service: ClassVar[str]
    """Human name used in messages: "PostgreSQL", "Redis", "RabbitMQ"."""
    key: ClassVar[str]
    """Name of the server's subdirectory of the state directory."""
    default_start_timeout_s: ClassVar[float]
    """How long a start may take before it is declared failed (seconds)."""

    def __init__(self, state_dir: str | os.PathLike[str], port: int | None = None) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.directory = self.state_dir / self.key
        self._port = port
        self._port_fixed = port is not None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: _DirLock | None = None
        self._mutex = threading.RLock()
        self._log_offsets: dict[Path, int] = {}
        self.last_start_s: float | None = None
        """Seconds the last successful :meth:`start` took (prepare, launch, ready)."""
        self.last_stop_s: float | None = None
        """Seconds the last :meth:`stop` took."""

    # -- what callers use ----------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients connect to on 127.0.0.1."""
        if self._port is None:
            raise LocalServiceError(self.service, str(self.directory), "not started yet")
        return self._port

    @property
    @abstractmethod
    def url(self) -> str:
        """Where clients connect, as the engine's settings spell it."""

    @property
    def log_path(self) -> Path:
        """The file the server's output goes to."""
        return self.directory / "server.log"

    @property
    def pid(self) -> int | None:
        """The pid of the server process we started (the leader of its group), if running."""
        return self._process.pid if self.is_running and self._process else None

    @property
    def is_running(self) -> bool:
        """Whether the server process we started is alive (it may not be ready)."""
        return self._process is not None and not _exited(self._process)

    def pids(self) -> list[int]:
        """Every live process of this server (group members), for checks and tests."""
        return sorted({p.pid for proc in self._processes() for p in process_tree(proc.pid)})

    def start(self, timeout_s: float | None = None) -> Self:
        """Start the server and return once it accepts connections; a no-op if running.

        Raises :class:`LocalServiceError` (binary missing, port in use, not
        ready in time — with the end of the log) and leaves nothing running.
        """
        with self._mutex:
            if self.is_running:
                return self
            began = time.monotonic()
            timeout = timeout_s if timeout_s is not None else self.default_start_timeout_s
            deadline = began + timeout
            self.directory.mkdir(parents=True, exist_ok=True)
            if self._lock is None:
                self._lock = _DirLock.acquire(self.directory, self.service)
            try:
                reap_stale(self.directory, keep=[p.pid for p in self._processes()])
                self._prepare()
                self._launch_until_ready(deadline, timeout)
            except BaseException:
                self._end_all()
                self._release()
                raise
            self._port_fixed = True
            self.last_start_s = time.monotonic() - began
            log.info("%s started on port %s in %.2f s", self.service, self._port, self.last_start_s)
            return self

    def stop(self, fast: bool = True, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the server gracefully, escalating to SIGKILL after ``timeout_s``.

        ``fast`` asks the server not to wait for its clients (where the server
        makes that distinction). Idempotent; afterwards no process of this
        server is left and the directory is free for another run.
        """
        self._stop(fast, timeout_s, release=True)

    def restart(self, timeout_s: float | None = None) -> None:
        """Stop gracefully and start again on the same port with the same data."""
        self._stop(True, STOP_TIMEOUT_S, release=False)
        self.start(timeout_s)

    def kill(self) -> None:
        """SIGKILL the server and everything it started, as a crash would.

        Data survives as far as the server's crash safety goes; :meth:`start`
        brings it back on the same port.
        """
        with self._mutex:
            if self._process is not None:
                end_tree(self._process, signal.SIGKILL)
                self._process = None
            if self._lock is not None:
                self._write_record()

    def close(self) -> None:
        """Same as :meth:`stop`: end the server and free the directory."""
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "stopped"
        return f"<{type(self).__name__} port={self._port} {state} {self.directory}>"

    # -- what each server provides ------------------------------------------

    @abstractmethod
    def _prepare(self) -> None:
        """Everything before the first launch: binaries present, data directory made."""

    def _choose_ports(self, fresh: bool) -> None:
        """Pick free ports (all new ones when ``fresh``); keep fixed ones."""
        if self._port is None or (fresh and not self._port_fixed):
            self._port = free_port()

    def _ports(self) -> list[int]:
        """Every port the server will bind."""
        return [self.port]

    @abstractmethod
    def _launch(self) -> subprocess.Popen[bytes]:
        """Start the server process (in its own session, output to the log)."""

    @abstractmethod
    def _ready(self) -> bool:
        """One quick check that the server accepts clients."""

    def _after_ready(self, deadline: float) -> None:
        """Anything to wait for once the port answers (RabbitMQ: the boot's last steps)."""
        return None

    @abstractmethod
    def _ask_to_stop(self, fast: bool) -> None:
        """Ask the running server to shut down gracefully (does not wait)."""

    def _processes(self) -> list[subprocess.Popen[bytes]]:
        """Every process group leader of ours, for records and cleanup."""
        return [self._process] if self._process is not None else []

    def _stop_extras(self) -> None:
        """End helper processes that outlive the server itself (RabbitMQ's epmd)."""
        return None

    def _log_files(self) -> list[Path]:
        return [self.log_path]

    def _port_conflict(self, log_tail: Sequence[str]) -> bool:
        text = "\n".join(log_tail).lower()
        return "address already in use" in text or "eaddrinuse" in text

    def _where(self) -> str:
        return f"127.0.0.1:{self._port}" if self._port is not None else str(self.directory)

    # -- shared machinery ------------------------------------------------------

    def _error(self, reason: str, with_log: bool = False) -> LocalServiceError:
        if not with_log:
            return LocalServiceError(self.service, self._where(), reason)
        for path in reversed(self._log_files()):
            if path not in self._log_offsets:
                continue  # not written by this attempt: old news
            lines = tail(path, self._log_offsets[path])
            if lines:
                return LocalServiceError(self.service, self._where(), reason, path, lines)
        return LocalServiceError(self.service, self._where(), reason + " (its log is empty)")

    def _open_log(self) -> int:
        """Open the log for appending, remembering where this run's output starts."""
        for path in self._log_files():
            with contextlib.suppress(OSError):
                self._log_offsets[path] = path.stat().st_size
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"--- started by pid {os.getpid()} at {stamp} ---\n".encode())
        self._log_offsets[self.log_path] = os.fstat(fd).st_size
        return fd

    def _popen(
        self, argv: Sequence[str], env: dict[str, str], **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        fd = self._open_log()
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env=env,
                start_new_session=True,
                **kwargs,
            )
        except OSError as exc:
            raise self._error(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def _launch_until_ready(self, deadline: float, timeout: float) -> None:
        attempts = 1 if self._port_fixed else PORT_ATTEMPTS
        for attempt in range(attempts):
            self._choose_ports(fresh=attempt > 0)
            busy = [p for p in self._ports() if not port_is_free(p)]
            if busy and self._port_fixed and self.last_start_s is not None:
                busy = self._wait_ports_released(busy)
            if busy and self._port_fixed:
                raise self._error(
                    f"port {busy[0]} on 127.0.0.1 is already in use by another process"
                )
            if busy:
                continue
            try:
                self._process = self._launch()
                self._write_record()
                self._wait_ready(deadline, timeout)
                return
            except _PortTaken:
                self._end_all()
        raise self._error(f"no free port found after {attempts} attempts")

    def _wait_ports_released(self, busy: list[int]) -> list[int]:
        """Give our previous incarnation's ports a moment to close; return those still taken.

        A killed multi-threaded server (the Erlang VM) looks dead before its last
        thread has let go of its sockets.
        """
        deadline = time.monotonic() + PORT_RELEASE_WAIT_S
        while busy and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            busy = [p for p in busy if not port_is_free(p)]
        return busy

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self._process is not None
        while True:
            if _exited(self._process):
                code = self._process.wait()
                error = self._error(f"exited with status {code} while starting", with_log=True)
                if self._port_conflict(error.log_tail):
                    if not self._port_fixed:
                        raise _PortTaken
                    raise self._error("a port it needs on 127.0.0.1 is in use", with_log=True)
                raise error
            if self._ready():
                break
            if time.monotonic() >= deadline:
                raise self._error(f"did not accept connections within {timeout:g} s", True)
            time.sleep(POLL_INTERVAL_S)
        self._after_ready(deadline)

    def _stop(self, fast: bool, timeout_s: float, release: bool) -> None:
        with self._mutex:
            if self._lock is None:
                return  # never started, or stopped already: the directory is not ours to touch
            began = time.monotonic()
            proc = self._process
            if proc is not None:
                tree = process_tree(proc.pid) if not _exited(proc) else []
                if tree:
                    try:
                        self._ask_to_stop(fast)
                    except (LocalServiceError, OSError) as exc:
                        log.warning("%s: graceful stop failed (%s); terminating", self, exc)
                    if not _wait_exited(proc, timeout_s):
                        log.warning("%s did not stop within %g s; killing it", self, timeout_s)
                end_tree(proc, signal.SIGKILL, known=tree)
                self._process = None
            if release:
                self._stop_extras()
                (self.directory / PIDS_FILE).unlink(missing_ok=True)
                self._release()
            else:
                self._write_record()
            self.last_stop_s = time.monotonic() - began

    def _end_all(self) -> None:
        """SIGKILL every group of ours: used when a start fails half-way."""
        if self._process is not None:
            end_tree(self._process, signal.SIGKILL)
            self._process = None
        self._stop_extras()
        self._write_record()

    def _write_record(self) -> None:
        groups = []
        for proc in self._processes():
            created = _create_time(proc.pid)
            if created is not None and not _exited(proc):
                groups.append({"pid": proc.pid, "create_time": created})
        path = self.directory / PIDS_FILE
        if not groups:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"owner": os.getpid(), "groups": groups}) + "\n")
        tmp.replace(path)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
