"""Fixtures on the real services: PostgreSQL, RabbitMQ and Redis.

The run's database is created and migrated once, then truncated before each
test (far cheaper than a database per test, and as isolating). It is dropped
at the end of the run, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.client import Client
from engine.config import Settings
from engine.db.database import Database
from engine.db.migrate import drop_database, migrate
from queueconsole.cli.main import main
from tests.support.services import CI, RUN_ID, run_settings

pytest_plugins = ["tests.support.private"]  # private servers for tests that break them

TABLES = (
    "jobs",
    "job_dependencies",
    "job_events",
    "job_logs",
    "workers",
    "workflows",
    "queues",
    "queue_state_counts",
    "queue_state_deltas",
    "schedules",
    "schedule_fires",
    "api_tokens",
    "dead_letters",
    "dead_letter_sweeps",
    "queue_minutes",
    "queue_minute_rollup",
    "tenants",
    "tenant_queues",
)


def pytest_report_header() -> list[str]:
    return [f"queueconsole test run {RUN_ID} (CI={CI})"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    """This run's settings: own database, own namespace."""
    return run_settings()


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> AsyncIterator[Settings]:
    """The run's database, migrated; dropped at the end of the session."""
    try:
        await migrate(settings)
    except Exception as exc:  # say plainly that the service is missing
        pytest.exit(f"PostgreSQL for the tests is not usable: {exc}. Run ./dev test.", 3)
    yield settings
    last = Database(settings)
    try:
        await truncate(last)  # notes the last test's queues
    finally:
        await last.close()
    with contextlib.suppress(Exception):  # the broker may be the thing a test broke
        await delete_namespace(settings, Names(settings.namespace), sorted(QUEUES_SEEN))
    await drop_database(settings)


QUEUES_SEEN: set[str] = {"default"}
"""Engine queues any test used: their broker queues in the run's namespace are deleted
at the end (the CLI and clients publish after commit)."""


async def truncate(db: Database) -> None:
    """Empty every table and restart id sequences."""
    async with db.transaction() as conn:
        QUEUES_SEEN.update((await conn.execute(text("SELECT name FROM queues"))).scalars())
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
        await conn.execute(text("INSERT INTO tenants (name) VALUES ('default')"))


OBSERVED_TRANSITIONS: set[tuple[str | None, str]] = set()
"""Every (from, to) pair written to job_events by any test so far (see test_transitions)."""


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """A connection pool on an empty database."""
    database = Database(migrated)
    await truncate(database)
    try:
        yield database
        async with database.connection() as conn:
            rows = await conn.execute(
                text(
                    "SELECT DISTINCT from_state, to_state FROM job_events "
                    "WHERE from_state IS DISTINCT FROM to_state"
                )
            )
            OBSERVED_TRANSITIONS.update((r.from_state, r.to_state) for r in rows)
    finally:
        await database.close()


@pytest.fixture
async def client(migrated: Settings, db: Database) -> AsyncIterator[Client]:
    """An engine client with no after-commit hooks (no broker)."""
    async with Client(migrated, database=db) as c:
        yield c


@pytest.fixture
async def tokens(client: Client) -> dict[str, str]:
    """A secret per scope: {"read": …, "submit": …, "operate": …}."""
    return {
        s: (await client.create_token(f"t-{s}", s)).secret for s in ("read", "submit", "operate")
    }


@pytest.fixture
def cli_env(migrated: Settings) -> Iterator[dict[str, str]]:
    """Environment for running the ``queueconsole`` command against this run's services."""
    env = dict(os.environ)
    env.update(
        QUEUECONSOLE_DATABASE_URL=migrated.database_url,
        QUEUECONSOLE_AMQP_URL=migrated.amqp_url,
        QUEUECONSOLE_REDIS_URL=migrated.redis_url,
        QUEUECONSOLE_NAMESPACE=migrated.namespace,
        QUEUECONSOLE_JOB_MODULES=",".join(migrated.job_modules),
    )
    yield env


@pytest.fixture
def qc(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Database,
) -> Callable[..., tuple[int, str, str]]:
    """Run ``queueconsole ARGS`` in-process; returns (exit code, stdout, stderr)."""
    for key, value in cli_env.items():
        if key.startswith("QUEUECONSOLE_"):
            monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


async def gather_limited(*coros: object, limit: int = 50) -> list[object]:
    """asyncio.gather, at most ``limit`` at once."""
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))
