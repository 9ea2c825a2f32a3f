"""A job type that reports when its handler really began and ended, so tests can tell
which runs overlapped without trusting when the outcome was recorded."""

from __future__ import annotations

import time

from engine.worker import JobContext, job


@job("test.timed")
def timed(ctx: JobContext) -> dict[str, float]:
    """Sleeps ``seconds`` and returns its wall-clock start and end."""
    start = time.time()
    time.sleep(float(ctx.payload.get("seconds", 0.3)))
    return {"start": start, "end": time.time()}
