"""A private primary and its streaming replica for the read-replica tests.

The machine's shared PostgreSQL refuses replication connections (its
``pg_hba.conf`` has no ``replication`` line), so the primary is private too:
started from the installed binaries, migrated, and removed with its replica
at the end of the module, also when a test fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from engine.config import Settings
from engine.db.migrate import migrate
from tests.support.replica import StreamingPair, streaming_pair, unavailable_reason
from tests.support.services import CI, run_settings

DATABASE = "queueconsole"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    """A started primary and replica with the engine's schema; stopped and removed after.
    Skipped with the reason where servers cannot be started (never in CI)."""
    reason = unavailable_reason()
    if reason is not None:
        if CI:
            pytest.fail(f"a streaming replica cannot be started: {reason}")
        pytest.skip(f"a streaming replica cannot be started: {reason}")
    with streaming_pair() as started:
        asyncio.run(migrate(run_settings().evolve(database_url=started.primary.url(DATABASE))))
        yield started
    # Leaving the block stopped both servers and removed their directory.


@pytest.fixture
def replica_settings(pair: StreamingPair) -> Settings:
    """The run's settings on the private primary, reading from its replica, with a
    replica running (a test before may have stopped it)."""
    if not pair.replica.running():
        pair.replica.start()
    pair.replica.sql("SELECT pg_wal_replay_resume()")
    return run_settings().evolve(
        database_url=pair.primary.url(DATABASE), read_database_url=pair.replica.url(DATABASE)
    )
