"""PostgreSQL access: connection handling, migrations and error translation."""

from engine.db.database import Database

__all__ = ["Database"]
