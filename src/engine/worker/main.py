"""Run one worker process until SIGTERM/SIGINT (then drain and exit 0).

Started by ``queueconsole worker`` and by the supervisor (``python -m
engine.worker``); both pass :class:`~engine.worker.process.WorkerOptions`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from engine.config import Settings, load_settings
from engine.errors import EngineError
from engine.logs import configure_logging
from engine.worker.options import DEFAULT_PREFETCH, WorkerOptions, available_cpus


def parse_queues(text: str) -> tuple[str, ...]:
    """``a,b`` -> ("a", "b"); empty names are refused."""
    queues = tuple(q.strip() for q in text.split(","))
    if not queues or any(not q for q in queues):
        raise argparse.ArgumentTypeError(f"--queues {text!r}: give queue names separated by ','")
    return queues


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_cores(text: str) -> float:
    """A number of cores above 0 (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cores") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of cores, e.g. 2")
    return value


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``queueconsole worker`` (shared with ``python -m engine.worker``)."""
    parser.add_argument("--queues", type=parse_queues, default=("default",), metavar="A,B")
    parser.add_argument(
        "--prefetch",
        type=positive_int,
        default=DEFAULT_PREFETCH,
        metavar="N",
        help=f"most unacked messages held; fewer while jobs are long ({DEFAULT_PREFETCH})",
    )
    parser.add_argument("--concurrency", type=positive_int, default=1, metavar="N")
    parser.add_argument("--max-memory-mb", type=positive_int, default=None, metavar="M")
    parser.add_argument(
        "--cpus",
        type=positive_cores,
        default=None,
        metavar="C",
        help="cores this worker offers its jobs (default: the cores this process may use)",
    )
    parser.add_argument("--worker-id", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-id", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--grace-s", type=float, default=30.0, metavar="S")
    parser.add_argument("--heartbeat-s", type=float, default=1.0, metavar="S")


def options_from(args: argparse.Namespace) -> WorkerOptions:
    """WorkerOptions from parsed flags."""
    return WorkerOptions(
        queues=tuple(args.queues),
        prefetch=args.prefetch,
        concurrency=args.concurrency,
        max_memory_mb=args.max_memory_mb,
        cpus=available_cpus() if args.cpus is None else args.cpus,
        worker_id=args.worker_id,
        supervisor_id=args.supervisor_id,
        supervisor_pid=args.supervisor_pid,
        grace_s=args.grace_s,
        heartbeat_s=args.heartbeat_s,
    )


async def run_worker(settings: Settings, options: WorkerOptions) -> int:
    """Run a worker; the first SIGTERM/SIGINT drains it, a second one is ignored."""
    # Imported here: every `queueconsole` command builds the `worker` flags, and only
    # a worker needs the worker (its consumer, executor, psutil).
    from engine.worker.process import Worker

    worker = Worker(settings, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop, f"signal {sig.name}")
    return await worker.run()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m engine.worker``."""
    parser = argparse.ArgumentParser(prog="python -m engine.worker")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    try:
        # The supervisor passes its settings, log level and format included, as
        # QUEUECONSOLE_* variables: the whole tree logs alike.
        settings = load_settings()
        configure_logging(settings)
        return asyncio.run(run_worker(settings, options_from(args)))
    except EngineError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 3
