"""Chaos run: the engine under load while its workers, supervisor and servers fail.

Seven scenarios (:data:`bench.chaos.faults.SCENARIOS`), each with its own
workload of independent jobs and DAG workflows, run against private
PostgreSQL, Redis and RabbitMQ servers the run starts itself. The figures —
jobs lost, completed twice, run before their dependencies, and the time to
recover — are read from the database afterwards (:mod:`bench.chaos.measure`).

    python -m bench.chaos [--jobs N] [--scenario NAME]...
"""
