"""The section's sizes and their command-line flags (added to ``python -m bench``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

JOBS = 3_000  # jobs per throughput trial; quick: QUICK_JOBS
QUICK_JOBS = 500
CALLERS = 50  # concurrent submit() callers on one client, as an async web app has
PACED_RATE = 200.0  # submits/s of the paced latency run
PACED_SECONDS = 5.0  # seconds of the paced latency run; quick: QUICK_PACED_SECONDS
QUICK_PACED_SECONDS = 2.0
CLI_RUNS = 10  # timed runs of each submit command; quick: QUICK_CLI_RUNS
QUICK_CLI_RUNS = 3


@dataclass(frozen=True)
class SingleOptions:
    """How big the one-at-a-time section runs."""

    n: int = JOBS
    """Jobs per throughput trial, for every producer."""
    callers: int = CALLERS
    paced_rate: float = PACED_RATE
    paced_seconds: float = PACED_SECONDS
    cli_runs: int = CLI_RUNS

    def timeout_s(self) -> float:
        """Generous: a producer slower than 50 jobs/s is reported as timed out."""
        return 60.0 + self.n / 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This section's flags."""
    group = parser.add_argument_group("single (one job at a time)")
    group.add_argument(
        "--single-n", type=int, help=f"jobs per one-at-a-time trial ({JOBS:,}; quick {QUICK_JOBS})"
    )
    group.add_argument(
        "--callers", type=int, default=CALLERS, help=f"concurrent callers ({CALLERS})"
    )
    group.add_argument(
        "--paced-rate", type=float, default=PACED_RATE, help=f"paced submits/s ({PACED_RATE:g})"
    )
    group.add_argument(
        "--paced-seconds",
        type=float,
        help=f"paced run length ({PACED_SECONDS:g}; quick {QUICK_PACED_SECONDS:g})",
    )
    group.add_argument(
        "--cli-runs",
        type=int,
        help=f"timed runs of each submit command ({CLI_RUNS}; quick {QUICK_CLI_RUNS})",
    )


def from_arguments(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, quick: bool
) -> SingleOptions:
    """The parsed flags as options; refuses sizes below 1 and rates that are not positive."""
    options = SingleOptions(
        n=args.single_n if args.single_n is not None else QUICK_JOBS if quick else JOBS,
        callers=args.callers,
        paced_rate=args.paced_rate,
        paced_seconds=(
            args.paced_seconds
            if args.paced_seconds is not None
            else QUICK_PACED_SECONDS
            if quick
            else PACED_SECONDS
        ),
        cli_runs=args.cli_runs
        if args.cli_runs is not None
        else QUICK_CLI_RUNS
        if quick
        else CLI_RUNS,
    )
    for flag, value in (
        ("--single-n", options.n),
        ("--callers", options.callers),
        ("--cli-runs", options.cli_runs),
    ):
        if value < 1:
            parser.error(f"{flag} must be at least 1")
    if not (options.paced_rate > 0 and options.paced_seconds > 0):
        parser.error("--paced-rate and --paced-seconds must be positive")
    return options
