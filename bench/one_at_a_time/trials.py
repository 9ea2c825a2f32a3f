"""Trials: one system's configuration in one part of the section, and its repetitions.

Every part alternates its trials within each repetition (ours, Celery, ours, Dramatiq,
…) so a burst of someone else's load lands on all of them alike; a trial that raises is
reported in its cell and the run goes on.
"""

from __future__ import annotations

import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Run = Callable[[int], dict[str, float]]
"""One repetition of a trial: ``run(rep)`` returns its figures by key."""


@dataclass
class Trial:
    """One system's configuration in one part of the section."""

    part: str
    """``throughput``, ``paced``, ``cli`` or ``memory``: which table row group."""
    system: str
    """``ours``, ``celery`` or ``dramatiq`` (the columns of the footprint table)."""
    label: str
    """What the table says this is."""
    run: Run | None
    missing: str | None = None
    """Why ``run`` is None (the peer or our runtime is not installed)."""
    order: int = 0
    """Place in the printed table (the run order alternates systems instead)."""
    baseline: bool = False
    """The row the throughput ratios divide by (Celery reliable)."""
    values: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        """Median of the successful repetitions' ``key``."""
        got = self.values.get(key)
        return statistics.median(got) if got else None

    def cell(self, key: str, fmt: str) -> str:
        """The table cell for ``key``: the median, or why there is none."""
        if self.missing:
            return self.missing
        value = self.median(key)
        if value is None:
            return "failed" if self.errors else "-"
        text = format(value, fmt)
        if self.errors:
            ok = len(self.values.get(key, ()))
            text += f" ({ok}/{ok + len(self.errors)} ok)"
        return text

    def as_json(self) -> dict[str, Any]:
        """Every repetition, for ``--json``."""
        return {
            "part": self.part,
            "system": self.system,
            "label": self.label,
            "values": self.values,
            "errors": self.errors,
            "missing": self.missing,
        }


def alternate(trials: Sequence[Trial], reps: int) -> None:
    """Run every trial once per repetition, in the given order, recording each figure."""
    for rep in range(reps):
        for trial in trials:
            if trial.run is None:
                continue
            label = f"[single {trial.part} {rep + 1}/{reps}] {trial.label}"
            started = time.monotonic()
            try:
                values = trial.run(rep)
            except Exception as exc:  # one failed run is reported, the section goes on
                print(f"{label}: FAILED: {exc}", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                trial.errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                continue
            for key, value in values.items():
                trial.values.setdefault(key, []).append(value)
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in values.items())
            print(f"{label}: {shown} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
