"""A first run that works: use the configured services, or private ones where they are down.

The demo is the first thing a new user runs. If the configured PostgreSQL,
Redis or RabbitMQ does not answer and its server is installed, a private one
is started in the state directory and its URL used instead; each service
gets one line saying which was done, so nobody mistakes a private demo
database for their real one. A service that is down and not installed is
an error naming it, its (masked) URL and how to install it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from engine.config import Settings, mask_url
from engine.errors import ServiceUnavailable
from localservices.binaries import INSTALL_HINTS, SERVICE_NAMES, Binaries, locate_binaries
from localservices.probe import PROBE_TIMEOUT_S, SETTINGS_FIELDS, Probe, probe_all
from localservices.server import LocalServiceError
from localservices.stack import LocalStack

ORDER = ("postgres", "rabbitmq", "redis")
"""The order services are reported and checked in."""
STATE_DIR_ENV = "QUEUECONSOLE_STATE_DIR"


def default_state_dir() -> Path:
    """Where private servers keep their data unless told otherwise.

    ``$QUEUECONSOLE_STATE_DIR``; else, for root, ``/var/lib/queueconsole``
    (PostgreSQL runs as an unprivileged account there, which cannot enter
    ``/root``); else ``$XDG_STATE_HOME/queueconsole`` or
    ``~/.local/state/queueconsole``.
    """
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/queueconsole")
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "queueconsole"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def ensure_services(
    settings: Settings,
    state_dir: str | os.PathLike[str],
    *,
    report: Callable[[str], None] | None = None,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
    start_timeout_s: float | None = None,
    binaries: Binaries | None = None,
    fsync: bool = True,
) -> tuple[Settings, LocalStack | None]:
    """Settings whose services all answer, and the private servers started for that (if any).

    Probes the three configured URLs at once (about ``probe_timeout_s`` at
    worst). For each that does not answer, starts a private server under
    ``state_dir`` (in parallel) and swaps its URL in. Reports one line per
    service through ``report`` (stderr by default). The caller owns the
    returned stack and closes it on exit; it is closed anyway at interpreter
    exit and on SIGTERM/SIGHUP.

    Raises :class:`~engine.errors.ServiceUnavailable` for a service that is
    down with no server installed to replace it, or whose private server
    failed to start; nothing is left running then.

    Blocks (RabbitMQ takes several seconds to boot): from async code call it
    in a thread, e.g. ``await asyncio.to_thread(ensure_services, …)``.
    """
    say = report or _to_stderr
    probes = probe_all(settings, probe_timeout_s)
    down = [key for key in ORDER if not probes[key].ok]
    if not down:
        for key in ORDER:
            say(_using_line(probes[key]))
        return settings, None
    found = binaries or locate_binaries()
    for key in down:
        if not found.has(key):
            probe = probes[key]
            raise ServiceUnavailable(
                probe.service,
                probe.url,
                f"{probe.detail}, and no {probe.service} server is installed to start a private "
                f"one; {INSTALL_HINTS[key]}",
            )
    stack = LocalStack(
        state_dir,
        postgres="postgres" in down,
        redis="redis" in down,
        rabbitmq="rabbitmq" in down,
        fsync=fsync,
        binaries=found,
    )
    try:
        stack.start(start_timeout_s)
    except LocalServiceError as exc:
        key = next((k for k, name in SERVICE_NAMES.items() if name == exc.service), down[0])
        probe = probes[key]
        raise ServiceUnavailable(
            probe.service, probe.url, f"{probe.detail}, and the private server failed: {exc}"
        ) from None
    new_settings = stack.settings(settings)
    servers = {"postgres": stack.postgres, "redis": stack.redis, "rabbitmq": stack.rabbitmq}
    for key in ORDER:
        server = servers[key]
        if server is None:
            say(_using_line(probes[key]))
            continue
        url = mask_url(getattr(new_settings, SETTINGS_FIELDS[key]))
        took = f" in {server.last_start_s:.1f} s" if server.last_start_s is not None else ""
        say(
            f"{probes[key].service}: {probes[key].url} is unreachable ({probes[key].detail}); "
            f"started a private server at {url}{took} (data in {server.directory}, "
            "stopped on exit)"
        )
    return new_settings, stack


def _using_line(probe: Probe) -> str:
    return f"{probe.service}: using {probe.url} ({probe.detail})"
