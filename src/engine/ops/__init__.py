"""Operations an operator expects beyond running jobs: cron schedules, pausing queues,
queue limits, job TTL expiry and retention of finished jobs.

Each module holds the logic for one feature as functions on a connection (or on a
:class:`~engine.db.database.Database` where the work spans several short
transactions); the periodic services in :mod:`engine.services` and the
:class:`~engine.client.Client` call them. Nothing here is imported by the
package itself, so importing :mod:`engine.store` never drags this in.
"""
