"""A PostgreSQL primary and its streaming replica, from the installed server binaries.

For the read-replica tests and the many-hosts benchmark (``from tests.support.replica
import streaming_pair``): standard library only, so ``bench`` can import it without
the test fixtures. Each server runs as the ``postgres`` user (``initdb`` and
``postgres`` refuse root) on a free port of 127.0.0.1, in a temporary directory
removed afterwards, also when the caller fails.

The primary is a private one: the machine's shared server may not allow
replication connections (its ``pg_hba.conf`` needs a ``host replication ...``
line, which ``ALTER SYSTEM`` cannot add); :func:`replication_blocker` says
whether it does. A private primary also lets a test stop and lag the replica
without touching what other runs use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
START_TIMEOUT_S = 60  # seconds pg_ctl waits for a server to accept connections
COMMAND_TIMEOUT_S = 300  # seconds any one server command may take (a base backup included)


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` directory, if any."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "pg_basebackup").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def unavailable_reason() -> str | None:
    """Why a streaming pair cannot be started here, or None when it can."""
    if bin_dir() is None:
        return f"no PostgreSQL server binaries under {PG_ROOT}"
    if os.geteuid() != 0 and _user_name() != SERVER_USER:
        return f"starting servers as the {SERVER_USER} user needs root (runuser)"
    try:
        import pwd

        pwd.getpwnam(SERVER_USER)
    except KeyError:
        return f"no {SERVER_USER} user to run the servers as"
    return None


def replication_blocker(
    host: str = "127.0.0.1", port: int = 5432, user: str = "postgres"
) -> str | None:
    """Why a server refuses a physical replication connection (``pg_hba.conf`` has no
    ``replication`` line for us, ``max_wal_senders`` is 0, ...), or None if it accepts."""
    psql = shutil.which("psql") or str((bin_dir() or Path("/usr/bin")) / "psql")
    result = subprocess.run(
        [psql, f"host={host} port={port} user={user} replication=true", "-Atc", "IDENTIFY_SYSTEM"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"psql exited with {result.returncode}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One server: its data directory, port and log."""

    data_dir: Path
    port: int
    log_file: Path

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` on this server (trust: no password)."""
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        _pg(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: as a crash)."""
        if self.running():
            _pg("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """True while the server's postmaster runs."""
        result = _pg("pg_ctl", "-D", str(self.data_dir), "status", check=False)
        return result.returncode == 0

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql; its unaligned output."""
        return _pg(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            SERVER_USER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statement,
        ).stdout.strip()


@dataclass
class StreamingPair:
    """A primary and its hot-standby replica, streaming over 127.0.0.1."""

    primary: PgServer
    replica: PgServer
    base_dir: Path


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _pg(program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a server program as the ``postgres`` user; raise with its stderr on failure."""
    directory = bin_dir()
    if directory is None:
        raise RuntimeError(f"no PostgreSQL server binaries under {PG_ROOT}")
    command = [str(directory / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False, cwd="/"
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
        )
    return result


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, SERVER_USER, SERVER_USER)


def _configure(server: PgServer, socket_dir: Path, extra: str = "") -> None:
    with (server.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            f"\n# streaming pair for queueconsole tests\nport = {server.port}\n"
            f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n"
            f"{extra}"
        )


def init_primary(base_dir: Path) -> PgServer:
    """A new primary in ``base_dir/primary`` that accepts replication from 127.0.0.1."""
    server = PgServer(base_dir / "primary", free_port(), base_dir / "primary.log")
    _pg("initdb", "-D", str(server.data_dir), "-U", SERVER_USER, "--auth=trust", "--no-sync")
    _configure(
        server,
        base_dir,
        "wal_level = replica\nmax_wal_senders = 5\nfsync = off\nsynchronous_commit = off\n"
        "max_connections = 50\nshared_buffers = 32MB\n",
    )
    with (server.data_dir / "pg_hba.conf").open("a", encoding="utf-8") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    server.start()
    return server


def clone_replica(primary: PgServer, base_dir: Path) -> PgServer:
    """A hot standby of ``primary`` in ``base_dir/replica`` (``pg_basebackup -R``), started."""
    server = PgServer(base_dir / "replica", free_port(), base_dir / "replica.log")
    _pg(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary.port),
        "-U",
        SERVER_USER,
        "-D",
        str(server.data_dir),
        "-R",
        "-X",
        "stream",
        "--checkpoint=fast",
        "--no-sync",
    )
    _configure(server, base_dir, "hot_standby = on\nhot_standby_feedback = on\n")
    server.start()
    return server


@contextlib.contextmanager
def streaming_pair() -> Iterator[StreamingPair]:
    """A started primary and replica; both stopped and their directory removed at the
    end, whatever happened (a server that did not stop is killed with ``immediate``)."""
    base_dir = Path(tempfile.mkdtemp(prefix="qc-replica-"))
    _chown(base_dir)
    servers: list[PgServer] = []
    try:
        primary = init_primary(base_dir)
        servers.append(primary)
        replica = clone_replica(primary, base_dir)
        servers.append(replica)
        yield StreamingPair(primary, replica, base_dir)
    finally:
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop("immediate")
        shutil.rmtree(base_dir, ignore_errors=True)


def wait_replayed(pair: StreamingPair, timeout_s: float = 60.0) -> None:
    """Block until the replica has replayed everything the primary has written so far
    (a hang guard, not a measurement)."""
    target = pair.primary.sql("SELECT pg_current_wal_insert_lsn()")  # written or not
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        behind = pair.replica.sql(f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn())")
        if behind and float(behind) <= 0:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the replica did not replay up to {target} within {timeout_s} s")
