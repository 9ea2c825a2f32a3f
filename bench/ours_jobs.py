"""Our workers' job module for the benchmark (``QUEUECONSOLE_JOB_MODULES=bench.ours_jobs``).

It registers ``bench.noop``, which runs the very body the peers run
(:mod:`bench.peers.body`), so every system pays the same per-job work and
the comparison is of the queues, not of the bodies.
"""

from __future__ import annotations

from bench.peers import body
from engine.worker.registry import JobContext, job

JOB_TYPE = "bench.noop"


@job(JOB_TYPE)
def noop(ctx: JobContext) -> None:
    """The shared no-op body; the payload carries the Redis key it reports to."""
    body.run(str(ctx.payload["key"]))
