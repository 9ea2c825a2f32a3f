"""``python -m bench.bulk`` runs end to end on a tiny N and prints its figures (none of
them asserted: a timed assertion on a shared machine would measure the neighbours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bulk_bench_cancels_every_matching_job_and_prints_the_figures(cli_env):
    env = {k: v for k, v in cli_env.items() if k != "QUEUECONSOLE_NAMESPACE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "bench.bulk", "--jobs", "300"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "bulk cancel of 300 jobs from the console" in out
    assert "frame gaps       max" in out and "memory (RSS)" in out
    assert "message latency  max" in out
    assert "'cancelled': 300" in out  # server-side: every matching job, nothing else
    assert "'queued': 10" in out
