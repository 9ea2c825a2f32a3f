"""The engine's background services, one module each, with their logic and defaults.

Every module holds one service: the work it does (plain functions on a connection,
which the :class:`~engine.client.Client` calls too, so an operator's command and the
service share one code path), its defaults as named constants with units, and the
:class:`~engine.maintenance.base.PeriodicService` that repeats it:

- :mod:`~engine.maintenance.dispatch_reconciler`: publishes again runnable jobs whose
  broker message went missing;
- :mod:`~engine.maintenance.count_reconciler`: rewrites Redis's counters from
  PostgreSQL's counts;
- :mod:`~engine.maintenance.rescuer`: hands back runs whose worker died or that outran
  their timeout;
- :mod:`~engine.maintenance.retries`: requeues retries whose backoff ended;
- :mod:`~engine.maintenance.scheduler`: cron schedules;
- :mod:`~engine.maintenance.expiry`: job TTL;
- :mod:`~engine.maintenance.retention`: removes old finished jobs;
- :mod:`~engine.maintenance.rollup`: per-queue, per-minute history for the charts.

:class:`~engine.runtime.engine.Engine` lists the ones it runs. Every service is safe
to run in several engines at once (``SKIP LOCKED``, attempt-fenced updates).
"""
