"""``queueconsole migrate``: create the database if needed, then apply migrations.

Safe to run twice and from several processes at once: an advisory lock makes
concurrent runs take turns, and Alembic skips what is already applied.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from engine.config import Settings, sqlalchemy_url
from engine.db.database import Database
from engine.db.errors import CONNECT_TIMEOUT_S

MIGRATION_LOCK = 7_204_211  # advisory lock key held while migrating
SCRIPT_LOCATION = "engine.db:migrations"


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def _admin_engine(settings: Settings) -> AsyncEngine:
    """An AUTOCOMMIT engine on the server's ``postgres`` database, where CREATE and DROP
    DATABASE run (neither may run inside a transaction or in the database itself)."""
    url = make_url(sqlalchemy_url(settings.database_url)).set(database="postgres")
    return create_async_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"timeout": CONNECT_TIMEOUT_S}
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(settings: Settings) -> bool:
    """Create the configured database if it does not exist; True if it was created."""
    db = Database(settings)
    admin = _admin_engine(settings)
    name = settings.database_name
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if exists:
                return False
            try:
                await conn.execute(text(f"CREATE DATABASE {_quoted(name)}"))
            except DBAPIError as exc:
                if "already exists" in str(exc.orig):
                    return False  # another process created it a moment ago
                raise
            return True
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise db.translate(exc) from exc
    finally:
        await admin.dispose()
        await db.close()


async def drop_database(settings: Settings) -> None:
    """Drop the configured database if it exists, ending its sessions: the scratch
    databases of test runs, benchmarks and the screenshot script."""
    admin = _admin_engine(settings)
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(f"DROP DATABASE IF EXISTS {_quoted(settings.database_name)} WITH (FORCE)")
            )
    finally:
        await admin.dispose()


async def migrate(settings: Settings) -> list[str]:
    """Create the database if needed and upgrade it to the newest schema.

    Returns the revisions applied by this call (empty when already current).
    """
    await ensure_database(settings)
    db = Database(settings, pool_size=1)
    try:
        async with db.connection() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            try:
                applied = await conn.run_sync(_upgrade)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            await conn.commit()
            return applied
    finally:
        await db.close()


async def current_revision(settings: Settings) -> str | None:
    """The schema revision the database is at, or None if never migrated."""
    db = Database(settings, pool_size=1)
    try:
        async with db.connection() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await db.close()


def head_revision() -> str:
    """The newest revision this version of the engine ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(sync_conn: Connection) -> list[str]:
    before = MigrationContext.configure(sync_conn).get_current_revision()
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")
    after = MigrationContext.configure(sync_conn).get_current_revision()
    if before == after:
        return []
    script = ScriptDirectory.from_config(cfg)
    return [rev.revision for rev in script.iterate_revisions(after, before)][::-1]
