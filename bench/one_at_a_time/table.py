"""The section's two tables: throughput by producer, then what else a user feels."""

from __future__ import annotations

from collections.abc import Sequence

from bench.common import print_table
from bench.one_at_a_time.options import SingleOptions
from bench.one_at_a_time.trials import Trial

THROUGHPUT_HEADERS = (
    "producer (2 worker processes consuming)",
    "submit jobs/s",
    "completed jobs/s",
    "submit / Celery rel.",
    "completed / Celery rel.",
)
FOOTPRINT_HEADERS = ("measure", "ours", "Celery", "Dramatiq", "ours / Celery")
FOOTPRINT_SYSTEMS = ("ours", "celery", "dramatiq")


def _ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0:
        return "n/a"
    return f"{top / bottom:.2f}x"


def throughput_rows(trials: Sequence[Trial]) -> list[list[str]]:
    """One row per producer; ratios divide by Celery reliable's median (above 1: faster)."""
    rows = sorted((t for t in trials if t.part == "throughput"), key=lambda t: t.order)
    base = next((t for t in rows if t.baseline), None)
    out = []
    for t in rows:
        cells = [t.label, t.cell("submit", ",.0f"), t.cell("completed", ",.0f")]
        for key in ("submit", "completed"):
            cells.append(
                ""
                if t is base
                else _ratio(t.median(key), None if base is None else base.median(key))
            )
        out.append(cells)
    return out


def footprint_rows(trials: Sequence[Trial], options: SingleOptions) -> list[list[str]]:
    """What else a user feels, one measure per row, a column per system; the ratio is
    ours / Celery (below 1: ours takes less time or memory)."""
    rate = f"{options.paced_rate:g}/s"
    measures = (
        ("paced", "submit_p50_us", f"submit blocks the caller, p50 µs (paced {rate})", ",.0f"),
        ("paced", "submit_p99_us", f"submit blocks the caller, p99 µs (paced {rate})", ",.0f"),
        ("paced", "paced_rate", f"submits/s reached (paced {rate})", ",.0f"),
        ("paced", "p50", "submit-to-start p50 ms (same run)", ".1f"),
        ("paced", "p99", "submit-to-start p99 ms (same run)", ".1f"),
        ("cli", "seconds", f"submit one job from a shell, s (median of {options.cli_runs})", ".2f"),
        ("memory", "rss", "idle tree, 2 worker processes: RSS MiB", ".0f"),
        ("memory", "pss", "idle tree, 2 worker processes: PSS MiB", ".0f"),
        ("memory", "uss", "idle tree, 2 worker processes: USS MiB", ".0f"),
    )
    out = []
    for part, key, what, fmt in measures:
        by_system = {t.system: t for t in trials if t.part == part}
        cells = [what]
        for system in FOOTPRINT_SYSTEMS:
            trial = by_system.get(system)
            cells.append("-" if trial is None else trial.cell(key, fmt))
        ours, celery = by_system.get("ours"), by_system.get("celery")
        cells.append(
            _ratio(
                None if ours is None else ours.median(key),
                None if celery is None else celery.median(key),
            )
        )
        out.append(cells)
    return out


def notes(trials: Sequence[Trial], load: Sequence[tuple[float, float, float]]) -> list[str]:
    """The lines under the tables: what each tree and command is, and the machine's load."""
    lines = [
        "throughput ratios: producer / Celery reliable, above 1 is faster; "
        "ours / Celery: below 1 is less time or memory.",
    ]
    for part, title in (("cli", "commands"), ("memory", "trees")):
        shown = [
            f"{t.system} = {t.label}" for t in trials if t.part == part and t.system != "python"
        ]
        lines.append(f"{title}: " + "; ".join(shown))
    floor = next((t for t in trials if t.part == "cli" and t.system == "python"), None)
    if floor is not None and floor.median("seconds") is not None:
        lines.append(
            f"interpreter start-up alone (python -c pass): {floor.cell('seconds', '.3f')} s"
        )
    if len(load) == 2:
        lines.append(
            "load average (1 min) at the start and end of this section: "
            f"{load[0][0]:.2f}, {load[1][0]:.2f}"
        )
    return lines


def print_tables(
    trials: Sequence[Trial],
    options: SingleOptions,
    reps: int,
    load: Sequence[tuple[float, float, float]],
) -> None:
    """Both tables and their notes on stdout."""
    print(
        f"one job at a time: medians of {reps} run(s), alternating, "
        f"N={options.n:,} jobs per producer\n"
    )
    print_table(THROUGHPUT_HEADERS, throughput_rows(trials))
    print()
    print_table(FOOTPRINT_HEADERS, footprint_rows(trials, options))
    print()
    for line in notes(trials, load):
        print(line)
