"""A job type that logs one line, then one more each time a test opens a gate (a file),
so a test can watch a running job's log grow without timing anything."""

from __future__ import annotations

import time
from pathlib import Path

from engine.worker import JobContext, job

GATE_POLL_S = 0.05  # seconds between looks for the next gate file


@job("test.gated")
def gated(ctx: JobContext) -> dict[str, int]:
    """Logs ``line 0``; for each path in ``gates``, waits for that file, then logs the
    next line. Stops early when the run is cancelled."""
    gates = [Path(g) for g in ctx.payload.get("gates", [])]
    ctx.info("line 0")
    for n, gate in enumerate(gates, start=1):
        while not gate.exists():
            if ctx.should_stop():
                return {"lines": n}
            time.sleep(GATE_POLL_S)
        ctx.info(f"line {n}")
    return {"lines": len(gates) + 1}
