"""Live status in Redis: per-job state, counters, throughput, events, worker beats.

Redis here is a cache of facts PostgreSQL already holds. Every key may vanish
(flush, eviction, restart) and every reader copes: it falls back to
PostgreSQL and writes back what it read. :class:`~engine.status.cache.StatusCache`
writes after each commit; :class:`~engine.maintenance.count_reconciler.CountReconciler`
rewrites the counters from PostgreSQL's counts so any drift goes away. What a
worker reports on each beat is :class:`engine.snapshots.WorkerBeat`.
"""
