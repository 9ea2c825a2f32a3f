"""``queueconsole migrate`` (``status`` lives in :mod:`queueconsole.cli.commands.status`)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.config import Settings, mask_url


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the administration commands."""
    p = sub.add_parser(
        "migrate",
        parents=parents,
        help="create the database if needed and apply migrations (safe to repeat)",
    )
    p.set_defaults(handler=run_migrate)


async def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Bring the database to the newest schema."""
    # Alembic is imported here, not at the top: every command builds the whole parser,
    # and `queueconsole worker` should not carry it (about 10 MiB per process).
    from engine.db.migrate import head_revision, migrate

    applied = await migrate(settings)
    where = mask_url(settings.database_url)
    if applied:
        print(f"{where}: applied {', '.join(applied)}")
    else:
        print(f"{where}: already at {head_revision()}")
    return 0
