"""The one-at-a-time section's flags and tables, without services.

The section itself runs end to end on a tiny N in ``test_bench_runs`` (through
``python -m bench``, like every section); here: its sizes, its refusals, and that
each ratio divides by the right row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.one_at_a_time.options import SingleOptions
from bench.one_at_a_time.table import footprint_rows, throughput_rows
from bench.one_at_a_time.trials import Trial, alternate
from bench.suite import parse_args

REPO = Path(__file__).resolve().parents[2]


def test_quick_shrinks_the_section_and_bad_sizes_are_refused():
    assert parse_args([]).single == SingleOptions()
    assert parse_args(["--quick"]).single == SingleOptions(n=500, paced_seconds=2.0, cli_runs=3)
    assert parse_args(["--single-n", "7", "--callers", "3"]).single.n == 7
    assert parse_args(["--only", "single"]).only == ("single",)
    for argv in (
        ["--single-n", "0"],
        ["--callers", "0"],
        ["--cli-runs", "0"],
        ["--paced-rate", "0"],
        ["--paced-seconds", "-1"],
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)


def _trial(
    part: str,
    system: str,
    label: str,
    values: dict[str, list[float]],
    *,
    order: int = 0,
    baseline: bool = False,
    missing: str | None = None,
) -> Trial:
    """A trial that has run (or could not), with these figures."""
    trial = Trial(part, system, label, None, missing, order, baseline=baseline)
    trial.values = values
    return trial


def test_throughput_ratios_divide_by_celery_reliable():
    trials = [
        _trial(
            "throughput",
            "ours",
            "ours one",
            {"submit": [300.0, 100.0, 200.0], "completed": [150.0]},
        ),
        _trial(
            "throughput",
            "celery",
            "Celery reliable",
            {"submit": [400.0], "completed": [100.0]},
            order=1,
            baseline=True,
        ),
        _trial("throughput", "dramatiq", "gone", {}, order=2, missing="n/a (pip install)"),
    ]
    rows = throughput_rows(trials)
    assert rows[0] == ["ours one", "200", "150", "0.50x", "1.50x"]
    assert rows[1] == ["Celery reliable", "400", "100", "", ""]
    assert rows[2] == ["gone", "n/a (pip install)", "n/a (pip install)", "n/a", "n/a"]


def test_footprint_is_ours_over_celery_and_absent_systems_show_a_dash():
    trials = [
        _trial("memory", "ours", "engine", {"rss": [180.0], "pss": [150.0], "uss": [140.0]}),
        _trial("memory", "celery", "prefork", {"rss": [120.0], "pss": [75.0], "uss": [35.0]}),
        _trial("cli", "ours", "queueconsole submit", {"seconds": [0.5]}),
    ]
    rows = {r[0]: r[1:] for r in footprint_rows(trials, SingleOptions())}
    assert rows["idle tree, 2 worker processes: RSS MiB"] == ["180", "120", "-", "1.50x"]
    assert rows["submit one job from a shell, s (median of 10)"] == ["0.50", "-", "-", "n/a"]
    assert rows["submit blocks the caller, p50 µs (paced 200/s)"] == ["-", "-", "-", "n/a"]


def test_a_failed_repetition_is_reported_and_the_others_still_count():
    calls = iter([{"x": 1.0}, RuntimeError("boom"), {"x": 3.0}])

    def run(_rep: int) -> dict[str, float]:
        got = next(calls)
        if isinstance(got, Exception):
            raise got
        return got

    trial = Trial("paced", "ours", "flaky", run)
    alternate([trial], 3)
    assert trial.values == {"x": [1.0, 3.0]}
    assert trial.errors == ["boom"]
    assert trial.cell("x", ".1f") == "2.0 (2/3 ok)"


def test_the_section_runs_alone_as_a_module():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "bench.one_at_a_time", "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--single-n" in done.stdout
