"""A private PostgreSQL: its own cluster in ``state_dir/postgres/data``, on 127.0.0.1 only.

PostgreSQL refuses to run as root. When we are root the cluster belongs to,
and the server runs as, an unprivileged account (``postgres`` when the
package created it, else ``nobody``), which must be able to enter every
directory above the data directory: a state directory under ``/root`` or
under pytest's ``/tmp/pytest-of-root`` (both mode 0700) is refused with a
message saying so, rather than failing inside ``initdb``.

Clients are trusted without a password over TCP from 127.0.0.1 and there is
no Unix socket (none to collide with the machine's own cluster in
``/var/run/postgresql``, and no 107-byte socket path limit on deep state
directories).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import psutil

from localservices.binaries import INSTALL_HINTS, PostgresBinaries, find_postgres
from localservices.probe import probe_postgres
from localservices.server import LOOPBACK, PrivateServer, clean_environment

INITDB_TIMEOUT_S = 120.0  # seconds; initdb takes about one on a laptop
UNPRIVILEGED_ACCOUNTS = ("postgres", "nobody")
"""Accounts the server runs as when we are root, first that exists wins."""


class PrivatePostgres(PrivateServer):
    """A PostgreSQL server of our own, created with ``initdb`` on first start.

    Args:
        state_dir: the state directory; the cluster lives in ``<state_dir>/postgres``.
        port: the TCP port on 127.0.0.1; a free one is chosen when ``None``.
        fsync: whether the server flushes to disk. Turning it off makes tests
            and chaos runs several times faster and stays safe against process
            crashes (``kill``); only a machine crash can then corrupt the data.
        server_settings: extra ``-c name=value`` settings (``max_connections`` …).
        superuser: the role ``initdb`` creates and :attr:`url` logs in as.
        binaries: the installation to use (found on this machine when ``None``).
        run_as: the account the server runs as when we are root.
    """

    service: ClassVar[str] = "PostgreSQL"
    key: ClassVar[str] = "postgres"
    default_start_timeout_s: ClassVar[float] = 60.0

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        fsync: bool = True,
        server_settings: Mapping[str, str] | None = None,
        superuser: str = "postgres",
        binaries: PostgresBinaries | None = None,
        run_as: str | None = None,
    ) -> None:
        super().__init__(state_dir, port)
        self.fsync = fsync
        self.server_settings = dict(server_settings or {})
        self.superuser = superuser
        self.data_dir = self.directory / "data"
        self._binaries = binaries
        self._run_as = run_as

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/postgres``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The URL of ``database`` on this server (which :func:`migrate` can create)."""
        return f"postgresql://{quote(self.superuser)}@{LOOPBACK}:{self.port}/{quote(database)}"

    # -- PrivateServer -------------------------------------------------------

    def _prepare(self) -> None:
        if self._binaries is None:
            self._binaries = find_postgres()
            if self._binaries is None:
                raise self._error(
                    f"initdb and postgres are not installed; {INSTALL_HINTS['postgres']}"
                )
        self._give_directory_to_account()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._remove_dead_lock_file()

    def _remove_dead_lock_file(self) -> None:
        """Remove ``postmaster.pid`` when the postmaster it names is a zombie.

        PostgreSQL refuses to start while that pid exists, and a killed
        postmaster whose zombie init has not reaped yet still exists. We hold
        the directory's lock, so no other run of ours uses the cluster; a live
        postmaster someone started by hand is left for PostgreSQL to report.
        """
        lock_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:
            zombie = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return  # gone: PostgreSQL handles that itself, checking shared memory too
        if zombie:  # its children were killed with it (end_tree, reap_stale)
            lock_file.unlink(missing_ok=True)

    def _launch(self) -> subprocess.Popen[bytes]:
        assert self._binaries is not None
        settings = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": "",
            "fsync": "on" if self.fsync else "off",
            "logging_collector": "off",
            **self.server_settings,
        }
        argv = [str(self._binaries.postgres), "-D", str(self.data_dir), "-p", str(self.port)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return self._popen(argv, self._env(), **self._account_kwargs())

    def _ready(self) -> bool:
        """Our postmaster (not a killed predecessor's stale file) says ready, and answers."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        ours = self._process is not None and lines[:1] == [str(self._process.pid)]
        if not (ours and len(lines) >= 8 and lines[7].strip() == "ready"):
            return False
        return probe_postgres(self.url, timeout_s=1.0).ok

    def _ask_to_stop(self, fast: bool) -> None:
        """SIGINT is PostgreSQL's fast shutdown (clients cut off), SIGTERM its smart one."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGINT if fast else signal.SIGTERM)

    def _log_files(self) -> list[Path]:
        return [self.directory / "initdb.log", self.log_path]

    # -- running as someone else ----------------------------------------------

    def _account(self) -> pwd.struct_passwd | None:
        """The account to run as, or ``None`` to run as ourselves (when we are not root)."""
        if os.geteuid() != 0:
            return None
        names = (self._run_as,) if self._run_as else UNPRIVILEGED_ACCOUNTS
        for name in names:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise self._error(
            f"PostgreSQL refuses to run as root and there is no account {' or '.join(names)} "
            "to run it as; create one or run as an unprivileged user"
        )

    def _account_kwargs(self) -> dict[str, Any]:
        account = self._account()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _give_directory_to_account(self) -> None:
        """Make the cluster's directory the account's, and check it can get there."""
        account = self._account()
        if account is None:
            return
        uid, gid = account.pw_uid, account.pw_gid
        groups = set(os.getgrouplist(account.pw_name, gid))
        state = self.state_dir.stat()
        if state.st_uid == os.geteuid() and not _can_enter(state, uid, groups):
            # Our own state directory (often a 0700 temporary one): let the account
            # pass through it, without letting it list or change anything there.
            self.state_dir.chmod(stat.S_IMODE(state.st_mode) | stat.S_IXOTH)
        for parent in reversed(self.directory.parents):
            info = parent.stat()
            if not _can_enter(info, uid, groups):
                raise self._error(
                    f"PostgreSQL refuses to run as root, so it runs as {account.pw_name!r}, "
                    f"who cannot enter {parent} (mode {stat.S_IMODE(info.st_mode):04o}); "
                    "use a state directory that account can reach (e.g. under /var/tmp)"
                )
        os.chown(self.directory, uid, gid)
        self.directory.chmod(0o700)
        for sub in (self.data_dir, self.directory / "initdb.log", self.log_path):
            if sub.exists() and sub.stat().st_uid != uid:
                os.chown(sub, uid, gid)

    # -- initdb ------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        """No ``PG*`` variable of ours may redirect the server or initdb elsewhere."""
        env = clean_environment(("PG",))
        env["LC_ALL"] = "C"
        return env

    def _initdb(self) -> None:
        assert self._binaries is not None
        if self.data_dir.exists():  # a half-made cluster from an interrupted initdb
            shutil.rmtree(self.data_dir, ignore_errors=True)
        log_path = self.directory / "initdb.log"
        self._log_offsets = {log_path: 0}
        argv = [
            str(self._binaries.initdb),
            "-D",
            str(self.data_dir),
            "-U",
            self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if not self.fsync:
            argv.append("--no-sync")
        with log_path.open("wb") as out:
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    env=self._env(),
                    timeout=INITDB_TIMEOUT_S,
                    check=False,
                    **self._account_kwargs(),
                )
            except subprocess.TimeoutExpired:
                raise self._error(f"initdb did not finish within {INITDB_TIMEOUT_S:g} s") from None
            except OSError as exc:
                missing = isinstance(exc, FileNotFoundError)
                hint = f"; {INSTALL_HINTS['postgres']}" if missing else ""
                raise self._error(f"cannot run {argv[0]}: {exc.strerror or exc}{hint}") from None
        if done.returncode != 0:
            raise self._error(f"initdb failed with status {done.returncode}", with_log=True)


def _can_enter(info: os.stat_result, uid: int, groups: set[int]) -> bool:
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)
