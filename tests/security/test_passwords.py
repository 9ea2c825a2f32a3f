"""Passwords in service URLs never appear: not in output, errors, logs or on screen.

Every service URL here carries the password ``s3cr3t`` (PostgreSQL accepts any
password on the test server's trust authentication, so its URL works). The
commands run in-process with every logger at DEBUG captured — the drivers'
own log lines included — against live services, dead ports and a broker
that refuses the password. The console is opened on the same dead services.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest

from engine.client import Client
from engine.config import Settings, load_settings
from engine.errors import ServiceUnavailable
from engine.runtime.wiring import open_client
from queueconsole.console.app import ConsoleApp
from queueconsole.console.link import AttachedLink
from tests.console.conftest import screen_text
from tests.properties.conftest import QUEUES, run_cli
from tests.support.runtime import isolated
from tests.support.services import free_port

SECRET = "s3cr3t"
QUOTED_SECRET = "p%40ss%3Aw0rd"  # "p@ss:w0rd" as it must be written in a URL
PLAIN_QUOTED = "p@ss:w0rd"


def with_password(url: str, password: str, *, port: int | None = None) -> str:
    parts = urlsplit(url)
    user = parts.username or ""
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}:{port or parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def leaked(text: str) -> list[str]:
    return [s for s in (SECRET, QUOTED_SECRET, PLAIN_QUOTED) if s in text]


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger, DEBUG and up, formatted with its traceback."""
    caplog.set_level(logging.DEBUG)
    return caplog


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    handler = caplog.handler
    return "\n".join(handler.format(r) for r in caplog.records)


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("QUEUECONSOLE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("QUEUECONSOLE_AMQP_URL", settings.amqp_url)
    monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("QUEUECONSOLE_NAMESPACE", settings.namespace)


def variants(base: Settings) -> dict[str, Settings]:
    """The same installation with passwords everywhere: live, dead, and refused."""
    dead = free_port()
    live_db = with_password(base.database_url, SECRET)
    return {
        "dead broker and cache": base.evolve(
            database_url=live_db,
            amqp_url=with_password(base.amqp_url, SECRET, port=dead),
            redis_url=with_password(base.redis_url, SECRET, port=free_port()),
        ),
        "broker refuses the password": base.evolve(
            database_url=live_db,
            amqp_url=with_password(base.amqp_url, QUOTED_SECRET),
            redis_url=with_password(base.redis_url, SECRET),
        ),
        "dead database": base.evolve(
            database_url=with_password(base.database_url, SECRET, port=dead),
            amqp_url=with_password(base.amqp_url, SECRET, port=dead),
        ),
    }


COMMANDS = [
    ["status", "--json"],
    ["status"],
    ["submit", "demo.noop", "--json"],
    ["jobs"],
    ["job", "1", "--json"],
    ["queues", "--json"],
    ["pause", "default"],
    ["migrate"],
]


@pytest.mark.parametrize(
    "variant", ["dead broker and cache", "broker refuses the password", "dead database"]
)
async def test_no_command_shows_a_password(
    migrated, db, capsys, monkeypatch, everything_logged, variant
):
    settings = variants(isolated(migrated))[variant]
    use(monkeypatch, settings)
    try:
        for argv in COMMANDS:
            code, out, err = await run_cli(capsys, *argv)
            assert code in (0, 2, 3), (argv, err)
            assert not leaked(out + err), (argv, out + err)
            if variant == "dead database" and argv[0] != "migrate":
                assert code == 3 and "***@" in err, (argv, err)
        assert not leaked(log_text(everything_logged))
    finally:
        from engine.broker.admin import delete_namespace
        from engine.broker.names import Names

        clean = isolated(migrated).evolve(namespace=settings.namespace)
        await delete_namespace(clean, Names(settings.namespace), QUEUES)


def test_settings_and_their_errors_do_not_show_the_password():
    settings = Settings(
        database_url=f"postgresql://u:{SECRET}@127.0.0.1:1/x",
        amqp_url=f"amqp://guest:{QUOTED_SECRET}@127.0.0.1:1/%2F",
        redis_url=f"redis://:{SECRET}@127.0.0.1:1/0?password={SECRET}",
    )
    assert not leaked(repr(settings))
    assert not leaked(str(settings))
    with pytest.raises(Exception) as refused:
        Settings(database_url=f"mysql://u:{SECRET}@h/x")
    assert not leaked(str(refused.value))
    with pytest.raises(Exception) as refused:
        load_settings(environ={"QUEUECONSOLE_AMQP_URL": f"http://u:{SECRET}@h/"})
    assert not leaked(str(refused.value))


async def test_the_console_on_dead_services_shows_no_password(migrated, everything_logged):
    """The console opened on services that do not answer: health, errors and panes."""
    dead = free_port()
    settings = isolated(migrated).evolve(
        database_url=with_password(migrated.database_url, SECRET, port=dead),
        amqp_url=with_password(migrated.amqp_url, SECRET, port=dead),
        redis_url=with_password(migrated.redis_url, SECRET, port=dead),
    )
    client = Client(settings)
    link = AttachedLink(settings, client, owns_client=True)
    app = ConsoleApp(link, refresh_s=None)
    seen = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            for key in ("1", "2", "3", "4", "5"):
                await pilot.press(key)
                await app.refresh_now()
                await app.workers.wait_for_complete()
                await pilot.pause()
                seen.append(screen_text(app))
            seen.extend(n.message for n in app._notifications)
    finally:
        await asyncio.wait_for(link.stop(), 30)
    shown = "\n".join(seen)
    assert ":***@" in shown, "the console names the services that are down, masked"
    assert not leaked(shown), shown
    assert not leaked(log_text(everything_logged))


async def test_the_engine_logs_no_password_even_at_debug(migrated, db, everything_logged):
    """The library, without the CLI (which quiets pika): a publish the broker refuses,
    and reads from a database that is not there."""
    settings = variants(isolated(migrated))["broker refuses the password"]
    async with open_client(settings) as client:
        job = await client.submit("demo.noop")  # committed; the publish is refused, logged
    assert (await Client(migrated, database=db).job(job.id)).id == job.id
    dead = variants(isolated(migrated))["dead database"]
    async with Client(dead) as client:
        with pytest.raises(ServiceUnavailable) as down:
            await client.jobs()
    assert ":***@" in str(down.value) and not leaked(str(down.value))
    records = log_text(everything_logged)
    assert "refused" in records.lower() or "authentication" in records.lower()
    assert not leaked(records)
