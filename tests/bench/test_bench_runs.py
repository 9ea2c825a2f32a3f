"""The benchmark suite's plumbing runs on a tiny N and prints the expected table.

No figure is asserted: on a shared 2-core machine a timed assertion would
only measure the neighbours. What must hold is that every section runs
end to end, every process and vhost is cleaned up, and the table has a row
for every system and metric — figures where a system could run, "n/a" with
the reason where it could not (the peers without the ``bench`` extra).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import percentile
from bench.ours import JOB_TYPE, runtime_missing
from bench.suite import OURS, Options, Results, parse_args, summary

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--n",
    "50",
    "--reps",
    "1",
    "--bulk-n",
    "200",
    "--workflow-n",
    "100",
    "--latency-seconds",
    "1",
    "--latency-rate",
    "20",
    "--peers",
    "celery-reliable,dramatiq",
    "--single-n",
    "20",
    "--paced-rate",
    "50",
    "--paced-seconds",
    "1",
    "--cli-runs",
    "1",
    "--http-n",
    "50",
]
RUN_TIMEOUT_S = 600  # seconds; the tiny run takes well under a minute when nothing hangs
STOP_TIMEOUT_S = 120  # seconds the suite gets to clean up after SIGTERM


def _rows(stdout: str, header: str = "system") -> list[str]:
    """The body of the table whose header starts with ``header``: from under the header's
    dashes to the first blank line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


@pytest.mark.slow
def test_suite_runs_on_a_tiny_n_and_prints_every_row():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *TINY],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the suite stops its workers and drops what it made
        try:
            proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    assert proc.returncode == 0, stdout + stderr[-4000:]
    out = stdout
    rows = _rows(out)

    table = [re.split(r"\s{2,}", r.strip()) for r in rows]

    def median(system: str, metric: str) -> str:
        """The median cell of the row of this system and metric."""
        found = [cells for cells in table if cells[0] == system and cells[2] == metric]
        assert found, f"no row for {system} / {metric} in:\n{out}"
        return found[0][3]

    ours_ok = runtime_missing() is None
    for metric in (
        "submit jobs/s",
        "completed jobs/s",
        "bulk submit jobs/s",
        "workflow submit seconds",
        "submit-to-start p50 ms",
        "submit-to-start p99 ms",
        "idle worker RSS MiB",
    ):
        shown = median(OURS, metric)
        assert (shown == "n/a (runtime not available)") != ours_ok, shown
    for system, configuration in (
        (OURS, "HTTP, 32 keep-alive clients"),
        ("ours over HTTP", "1 keep-alive client"),
        ("ours over HTTP", "32 keep-alive clients (httpx)"),
        ("ours in-process", "Client.submit, one at a time"),
        ("ours in-process", "Client.submit, 50 concurrent callers"),
    ):
        found = [c for c in table if c[0] == system and c[1].startswith(configuration)]
        assert found and float(found[0][3].replace(",", "")) > 0, (system, configuration, out)
    for system, installed in (
        ("Celery / RabbitMQ", importlib.util.find_spec("celery") is not None),
        ("Dramatiq / RabbitMQ", importlib.util.find_spec("dramatiq") is not None),
    ):
        for metric in (
            "completed jobs/s",
            "bulk submit jobs/s",
            "submit-to-start p99 ms",
            "idle worker PSS MiB",
        ):
            shown = median(system, metric)
            assert (shown == "n/a (pip install -e '.[bench]')") != installed, shown
    assert "failed" not in out
    for metric in ("publish msgs/s", "consume msgs/s"):
        assert float(median("limit: RabbitMQ", metric).replace(",", "")) > 0
    assert float(median("limit: PostgreSQL", "insert+update rows/s").replace(",", "")) > 0
    assert "ratio ours/peer" in out
    _check_single_tables(out, ours_ok)


def _check_single_tables(out: str, ours_ok: bool) -> None:
    """The one-at-a-time section's two tables: a row per producer and per measure, a figure
    where the system could run, "n/a" with the reason where it could not."""
    celery = importlib.util.find_spec("celery") is not None
    dramatiq = importlib.util.find_spec("dramatiq") is not None
    producers = {
        re.split(r"\s{2,}", r.strip())[0]: re.split(r"\s{2,}", r.strip())[1:]
        for r in _rows(out, "producer")
    }
    expected = {
        "ours, Client.submit() one at a time (open_client)": ours_ok,
        "ours, 50 concurrent callers on one client": ours_ok,
        "ours, submit_many batches of 500 (reference)": ours_ok,
        "Celery reliable (acks_late, prefetch 1), apply_async loop": celery,
        "Celery defaults, apply_async loop": celery,
        "Dramatiq 2p x 8t, send loop, no confirms": dramatiq,
        "Dramatiq 2p x 8t, send loop, publisher confirms": dramatiq,
    }
    assert set(producers) == set(expected), producers
    for label, ran in expected.items():
        submit, completed = producers[label][:2]
        for cell in (submit, completed):
            assert cell.startswith("n/a") != ran, (label, cell)
            if ran:
                assert float(cell.replace(",", "")) > 0, (label, cell)
    measures = [re.split(r"\s{2,}", r.strip()) for r in _rows(out, "measure")]
    assert len(measures) == 9, measures
    for cells in measures:
        ours_cell = cells[1]
        assert ours_cell.startswith("n/a") != ours_ok, cells
    assert "interpreter start-up alone" in out


def test_ratio_is_ours_over_peer_and_missing_figures_say_why():
    results = Results()
    ours = results.row("e2e", OURS, "c", "completed jobs/s", fmt=",.0f", ours=True)
    peer = results.row(
        "e2e", "Peer", "c", "completed jobs/s", fmt=",.0f", compare=("e2e", "completed jobs/s")
    )
    results.row(
        "e2e",
        "Gone",
        "c",
        "completed jobs/s",
        fmt=",.0f",
        compare=("e2e", "completed jobs/s"),
        missing="n/a (pip install -e '.[bench]')",
    )
    ours.values += [3000.0, 1000.0, 2000.0]
    peer.values += [1000.0, 500.0, 900.0]
    table = results.table()
    assert table[0] == [OURS, "c", "completed jobs/s", "2,000", ""]
    assert table[1][3:] == ["900", "2.22x"]
    assert table[2][3:] == ["n/a (pip install -e '.[bench]')", "n/a"]
    peer.errors.append("boom")
    assert peer.shown() == "900 (3/4 ok)"
    assert results.failed()


def test_summary_states_ours_as_a_fraction_of_the_lower_limit():
    options = Options(n=100)
    results = Results()
    results.row("e2e", OURS, "c", "completed jobs/s", fmt=",.0f", ours=True).values.append(1000.0)
    results.row("limits", "limit: RabbitMQ", "c", "consume msgs/s", fmt=",.0f").values.append(
        8000.0
    )
    results.row("limits", "limit: PostgreSQL", "c", "rows/s", fmt=",.0f").values.append(4000.0)
    assert "25% of the lower physical limit (limit: PostgreSQL" in summary(results, options)[-1]


def test_quick_shrinks_the_sizes_and_bad_flags_are_refused():
    quick = parse_args(["--quick"])
    assert (quick.n, quick.slow_n, quick.bulk_n, quick.latency_seconds) == (
        2_000,
        1_000,
        20_000,
        3.0,
    )
    assert (parse_args([]).n, parse_args([]).slow_n) == (20_000, 10_000)
    assert parse_args(["--peers", "none"]).peers == ()
    for argv in (["--only", "nope"], ["--peers", "celery-fast"], ["--n", "0"]):
        with pytest.raises(SystemExit):
            parse_args(argv)


def test_percentile_interpolates_between_ranks():
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 99) == 99.0


def test_our_job_type_is_the_one_the_job_module_registers():
    source = (REPO / "bench" / "ours_jobs.py").read_text()
    assert f'JOB_TYPE = "{JOB_TYPE}"' in source
