"""Writes to the source of truth: submissions and state transitions.

Every function here takes an open transaction (a
:class:`~engine.db.connection.Connection`: SQLAlchemy's in the engine, a
:class:`~engine.db.driver.DriverConnection` in a worker) and returns a
:class:`~engine.store.changes.ChangeSet` describing what it changed; the
caller commits, then hands the change set to the after-commit hooks
(publishing runnable jobs, updating the status cache). Nothing is published
before the transaction that made it runnable has committed.
"""
