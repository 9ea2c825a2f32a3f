"""Where the installed server programs are, and how to install the missing ones.

Distributions put them in different places and some put wrappers in front:
Debian's ``/usr/sbin/rabbitmq-server`` switches to the ``rabbitmq`` user,
whose home holds the machine node's Erlang cookie — exactly what a private
node must not share — so the real scripts under ``/usr/lib/rabbitmq`` come
first, and a wrapper found on ``PATH`` is skipped.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINTS = {
    "postgres": "install PostgreSQL's server (Debian/Ubuntu: apt-get install postgresql; "
    "macOS: brew install postgresql) or run ./dev setup",
    "redis": "install Redis (Debian/Ubuntu: apt-get install redis-server; "
    "macOS: brew install redis) or run ./dev setup",
    "rabbitmq": "install RabbitMQ (Debian/Ubuntu: apt-get install rabbitmq-server; "
    "macOS: brew install rabbitmq) or run ./dev setup",
}
"""One line per service key saying how to get its server."""

SERVICE_NAMES = {"postgres": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ"}
"""Service key to the name used in messages (the same as the engine's errors use)."""


@dataclass(frozen=True)
class PostgresBinaries:
    """A PostgreSQL server installation: the directory with ``initdb`` and ``postgres``."""

    bindir: Path

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"


@dataclass(frozen=True)
class RabbitMQBinaries:
    """A RabbitMQ installation's real scripts (not a user-switching wrapper) and ``epmd``."""

    sbindir: Path
    epmd: Path

    @property
    def server(self) -> Path:
        return self.sbindir / "rabbitmq-server"

    @property
    def ctl(self) -> Path:
        return self.sbindir / "rabbitmqctl"


@dataclass(frozen=True)
class Binaries:
    """What is installed; ``None`` for a server that is not."""

    postgres: PostgresBinaries | None
    redis_server: Path | None
    rabbitmq: RabbitMQBinaries | None

    def has(self, key: str) -> bool:
        """Whether the server for service key ``postgres``, ``redis`` or ``rabbitmq`` exists."""
        found = {"postgres": self.postgres, "redis": self.redis_server, "rabbitmq": self.rabbitmq}
        return found[key] is not None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def find_postgres() -> PostgresBinaries | None:
    """The newest PostgreSQL server: Debian's versioned directories, ``pg_config``, ``PATH``."""
    candidates = [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)]
    candidates.reverse()
    candidates += [Path(p) for p in sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key)][::-1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=5, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        binaries = PostgresBinaries(bindir)
        if _executable(binaries.initdb) and _executable(binaries.postgres):
            return binaries
    return None


def find_redis() -> Path | None:
    """``redis-server`` on ``PATH``."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def _is_wrapper(script: Path) -> bool:
    """Whether ``script`` is a packaging wrapper that re-runs itself as another user."""
    try:
        head = script.read_bytes()[:4096]
    except OSError:
        return True
    return b"su rabbitmq" in head or b"rabbitmq-script-wrapper" in head


def find_epmd() -> Path | None:
    """Erlang's port mapper daemon, which every node (and ``rabbitmqctl``) registers with."""
    found = shutil.which("epmd")
    if found:
        return Path(found)
    for pattern in ("/usr/lib/erlang/bin/epmd", "/usr/lib/erlang/erts-*/bin/epmd"):
        for path in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _executable(Path(path)):
                return Path(path)
    return None


def find_rabbitmq() -> RabbitMQBinaries | None:
    """RabbitMQ's own ``rabbitmq-server`` and ``rabbitmqctl``, plus ``epmd``."""
    epmd = find_epmd()
    if epmd is None:
        return None
    candidates = [Path("/usr/lib/rabbitmq/bin")]
    versioned = glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin")
    candidates += [Path(p) for p in sorted(versioned, key=_version_key, reverse=True)]
    candidates += [Path("/opt/homebrew/sbin"), Path("/usr/local/sbin")]
    on_path = shutil.which("rabbitmq-server")
    if on_path:
        candidates.append(Path(on_path).parent)
    for sbindir in candidates:
        binaries = RabbitMQBinaries(sbindir, epmd)
        if (
            _executable(binaries.server)
            and _executable(binaries.ctl)
            and not _is_wrapper(binaries.server)
        ):
            return binaries
    return None


def locate_binaries() -> Binaries:
    """Everything installed on this machine, found once."""
    return Binaries(postgres=find_postgres(), redis_server=find_redis(), rabbitmq=find_rabbitmq())
