"""PostgreSQL: reachable, recent enough, enough connections, schema current, clocks agree.

One connection answers version, limits, connection count and clock in a
single round trip; the schema check compares the database's Alembic revision
with the newest this code ships.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from engine.config import Settings, mask_url
from engine.db.database import Database
from engine.db.sql import Sql
from engine.doctor.report import CheckResult, CheckStatus

MIN_VERSION = 110000
"""Covering indexes (``INCLUDE``, migration 0003) need PostgreSQL 11."""
OLDEST_TESTED_VERSION = 130000
"""Below this it may work but nothing here is tested on it: a warning."""
WORKER_CONNECTIONS = 6
"""Most connections one worker process opens: its asyncpg pool of 3, which may grow
to twice that under load (``engine.worker.process``, ``engine.db.driver``)."""
ENGINE_CONNECTIONS = 14
"""Most an engine's own services and reads open besides its workers: SQLAlchemy's pool
of 4 plus 4 overflow, and the services' asyncpg pool of 3 grown to 6
(``engine.runtime.engine``)."""
HEADROOM = 0.8
"""Warn when the configured engines would use more than this share of the connections
other clients leave free."""
SKEW_WARN_S = 1.0
"""Clock difference, beyond the round trip's uncertainty, that earns a warning."""

_FACTS = Sql(
    """
    SELECT current_setting('server_version') AS version,
           current_setting('server_version_num')::int AS version_num,
           current_setting('max_connections')::int AS max_connections,
           current_setting('superuser_reserved_connections')::int AS reserved,
           (SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend'
               AND coalesce(application_name, '') NOT LIKE 'queueconsole%') AS others,
           extract(epoch FROM clock_timestamp())::float8 AS now_epoch
    """
)
_REVISION = Sql("SELECT version_num FROM alembic_version")


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the operator plans to run, for the ``max_connections`` check."""

    engines: int = 1
    workers: int = 2
    """Worker processes per queue, as ``queueconsole engine --workers``."""
    queues: int = 1

    @property
    def connections(self) -> int:
        """Most connections these engines may open together."""
        return self.engines * (ENGINE_CONNECTIONS + self.workers * self.queues * WORKER_CONNECTIONS)


async def check_postgres(
    settings: Settings, capacity: Capacity, *, schema: bool = True, db: Database | None = None
) -> list[CheckResult]:
    """``postgresql``, then ``.version``, ``.max_connections``, ``clock_skew`` and (with
    ``schema``) ``migrations``; on ``db`` when given (a reader's), else a connection of
    its own."""
    url = mask_url(settings.database_url)
    owned = db is None
    if db is None:
        db = Database(settings, pool_size=1, application_name="queueconsole-doctor")
    try:
        try:
            async with db.connection() as conn:
                sent = time.time()
                row = (await conn.execute(_FACTS)).one()
                received = time.time()
                revision: str | None = None
                if schema:
                    try:
                        revision = (await conn.execute(_REVISION)).scalar_one_or_none()
                    except DBAPIError:  # no alembic_version table: never migrated
                        revision = None
        except Exception as exc:  # reported as the check's result, never raised
            reason = db.translate(exc)
            return [
                CheckResult(
                    "postgresql",
                    CheckStatus.FAIL,
                    settings.redact(str(reason)),
                    "start PostgreSQL or fix QUEUECONSOLE_DATABASE_URL (`queueconsole config` "
                    "shows where it comes from)",
                )
            ]
    finally:
        if owned:
            await db.close()
    results = [
        CheckResult("postgresql", CheckStatus.OK, f"answers at {url}"),
        _version(row.version, row.version_num),
        _connections(row.max_connections, row.reserved, row.others, capacity),
        _skew(row.now_epoch, sent, received),
    ]
    if schema:
        results.append(_migrations(revision))
    return results


def _version(version: str, number: int) -> CheckResult:
    if number < MIN_VERSION:
        return CheckResult(
            "postgresql.version",
            CheckStatus.FAIL,
            f"PostgreSQL {version}: the schema needs 11 or newer (covering indexes)",
            "upgrade PostgreSQL",
        )
    if number < OLDEST_TESTED_VERSION:
        return CheckResult(
            "postgresql.version",
            CheckStatus.WARN,
            f"PostgreSQL {version}: older than any version this is tested on (13+)",
            "upgrade PostgreSQL",
        )
    return CheckResult("postgresql.version", CheckStatus.OK, f"PostgreSQL {version}")


def _connections(limit: int, reserved: int, others: int, capacity: Capacity) -> CheckResult:
    usable = limit - reserved
    free = usable - others
    need = capacity.connections
    plan = (
        f"{capacity.engines} engine(s) × {capacity.workers} worker(s) on "
        f"{capacity.queues} queue(s) may open {need}"
    )
    found = f"max_connections {limit} ({usable} for non-superusers, {others} held by other clients)"
    advice = (
        f"raise max_connections to at least {need + others + reserved} (postgresql.conf, then "
        "restart), or run fewer workers per host"
    )
    if need > free:
        return CheckResult(
            "postgresql.max_connections", CheckStatus.FAIL, f"{found}; {plan}", advice
        )
    if need > HEADROOM * free:
        return CheckResult(
            "postgresql.max_connections", CheckStatus.WARN, f"{found}; {plan}", advice
        )
    return CheckResult("postgresql.max_connections", CheckStatus.OK, f"{found}; {plan}")


def _skew(db_epoch: float, sent: float, received: float) -> CheckResult:
    midpoint = (sent + received) / 2
    skew = db_epoch - midpoint
    uncertainty = (received - sent) / 2
    side = "ahead of" if skew > 0 else "behind"
    found = f"the database clock is {abs(skew):.3f} s {side} this host's (±{uncertainty:.3f} s)"
    if abs(skew) - uncertainty > SKEW_WARN_S:
        return CheckResult(
            "clock_skew",
            CheckStatus.WARN,
            found,
            "synchronise both clocks (NTP: chrony or systemd-timesyncd); the engine "
            "schedules by the database clock, but ages and times this host shows are off",
        )
    return CheckResult("clock_skew", CheckStatus.OK, found)


def _migrations(revision: str | None) -> CheckResult:
    # Alembic is imported only here: the migration scripts are read from the package.
    from engine.db.migrate import head_revision

    head = head_revision()
    if revision == head:
        return CheckResult("migrations", CheckStatus.OK, f"schema at {head}, the newest")
    found = (
        "the database was never migrated"
        if revision is None
        else f"schema at {revision}; this version needs {head}"
    )
    return CheckResult("migrations", CheckStatus.FAIL, found, "run `queueconsole migrate`")
