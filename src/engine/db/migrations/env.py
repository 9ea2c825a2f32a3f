"""Alembic environment.

Migrations always run on a connection handed over by ``engine.db.migrate``
(``config.attributes["connection"]``), which holds an advisory lock so that two
processes migrating at once take turns instead of colliding.
"""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `queueconsole migrate`, not the alembic command")

context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
