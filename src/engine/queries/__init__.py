"""Every SQL statement the engine runs, one module per table, each under a name.

``jobs``, ``dependencies`` (job_dependencies), ``events`` (job_events), ``logs``
(job_logs), ``workers``, ``queues``, ``schedules`` (with schedule_fires),
``workflows`` and ``counts`` (queue_state_counts and queue_state_deltas). A
statement that touches several tables lives with the one it is about: the table
it writes, or mainly reads.

Names are noun first (``JOB_CLAIM_MANY``, ``DEPENDENCY_INSERT_MANY``), so a
reader looking for what touches a table opens one file. Each statement is an
:class:`~engine.db.sql.Sql` with ``:name`` parameters (arrays as
``CAST(:ids AS bigint[])``): a :class:`~engine.db.driver.DriverConnection` compiles it
once to asyncpg's ``$n`` form and runs it directly, and SQLAlchemy, where a process
uses it, runs it as the ``text()`` it stands for. Defining the statements imports no
SQLAlchemy. Batched statements take parallel arrays and ``unnest`` them: one round
trip for a whole batch.
"""
