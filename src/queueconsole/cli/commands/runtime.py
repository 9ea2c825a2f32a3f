"""``queueconsole worker``, ``queueconsole engine`` and ``queueconsole scale``."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from engine.config import Settings
from engine.errors import ValidationError
from engine.worker.main import (
    add_worker_arguments,
    options_from,
    positive_cores,
    positive_int,
    run_worker,
)
from engine.worker.options import DEFAULT_PREFETCH
from queueconsole.cli.arguments import seconds
from queueconsole.cli.commands.api import add_api_arguments, check_api_arguments
from queueconsole.cli.errors import EXIT_FAILURE, EXIT_NO_ANSWER, report
from queueconsole.cli.logging_options import add_logging_arguments, configure_logging
from queueconsole.cli.output import print_json, printable

# Seconds `scale` waits for the engines' answers by default: engine.runtime.scaling's
# SCALE_WAIT_S, not imported here because that would load pika for every command.
SCALE_WAIT_S = 5.0
MAX_SCALE_WAIT_S = 600.0


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the runtime commands."""
    p = sub.add_parser(
        "worker",
        parents=parents,
        help="run one worker process (SIGTERM drains it and exits 0)",
    )
    add_worker_arguments(p)
    add_host_name_argument(p)
    add_logging_arguments(p)
    p.set_defaults(handler=run_worker_command)

    p = sub.add_parser(
        "engine",
        parents=parents,
        help="run the engine headless: retry scheduler, reconciler, rescuer and local workers",
    )
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes per queue")
    p.add_argument(
        "--queues",
        default="default",
        metavar="A,B",
        help="queues to start workers for (default: default)",
    )
    p.add_argument("--memory-budget-mb", type=positive_int, default=None, metavar="M")
    p.add_argument("--worker-max-memory-mb", type=positive_int, default=None, metavar="M")
    p.add_argument(
        "--worker-cpus",
        type=positive_cores,
        default=None,
        metavar="C",
        help="cores each worker offers its jobs' cpu requests (default: the cores it may use)",
    )
    p.add_argument(
        "--prefetch",
        type=positive_int,
        default=DEFAULT_PREFETCH,
        metavar="N",
        help=f"each worker's most unacked messages; fewer while jobs are long ({DEFAULT_PREFETCH})",
    )
    p.add_argument("--concurrency", type=positive_int, default=1, metavar="N")
    p.add_argument("--reconcile-after-s", type=float, default=10.0, metavar="S")
    p.add_argument("--heartbeat-timeout-s", type=float, default=5.0, metavar="S")
    p.add_argument("--grace-s", type=float, default=30.0, metavar="S")
    add_host_name_argument(p)
    add_api_arguments(p, port_flags=("--api-port", "--metrics-port"), default_port=None)
    add_logging_arguments(p)
    p.set_defaults(handler=run_engine_command)

    p = sub.add_parser(
        "scale",
        parents=parents,
        help="set the number of workers of a queue on every running engine",
    )
    p.add_argument("workers", type=int, metavar="N")
    p.add_argument("--queue", default="default", metavar="Q")
    p.add_argument(
        "--wait",
        type=seconds,
        default=SCALE_WAIT_S,
        metavar="S",
        help=f"how long to wait for the engines' answers ({SCALE_WAIT_S:g}); exit 1 if one "
        f"refuses, {EXIT_NO_ANSWER} if none answers",
    )
    p.add_argument(
        "--host",
        default=None,
        metavar="NAME",
        help="only the engine(s) on this host change (its host_name, as `status` shows "
        "it); every engine by default",
    )
    p.add_argument("--json", action="store_true", help="print every engine's answer as JSON")
    p.set_defaults(handler=run_scale_command)


def add_host_name_argument(p: argparse.ArgumentParser) -> None:
    """``--host-name NAME``: the ``host_name`` setting, ranked above the environment."""
    p.add_argument(
        "--host-name",
        dest="host_name",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="the host name this engine and its workers report, and that `scale --host` "
        "targets (QUEUECONSOLE_HOST_NAME; default: the machine's host name)",
    )


async def run_worker_command(args: argparse.Namespace, settings: Settings) -> int:
    """One worker in the foreground."""
    configure_logging(settings)
    return await run_worker(settings, options_from(args))


def _engine_options(args: argparse.Namespace) -> Any:
    from engine.queues.info import check_queue_name
    from engine.runtime.engine import EngineOptions
    from engine.runtime.supervisor import MAX_WORKERS_PER_QUEUE

    if not 0 <= args.workers <= MAX_WORKERS_PER_QUEUE:
        raise ValidationError(f"--workers {args.workers}: give 0 to {MAX_WORKERS_PER_QUEUE}")
    queues = [q.strip() for q in args.queues.split(",")]
    if any(not q for q in queues):
        raise ValidationError(f"--queues {args.queues!r}: give queue names separated by ','")
    for queue in queues:
        check_queue_name(queue)
    for name in ("reconcile_after_s", "heartbeat_timeout_s", "grace_s"):
        if getattr(args, name) <= 0:
            raise ValidationError(f"--{name.replace('_', '-')} must be more than 0")
    return EngineOptions(
        workers={q: args.workers for q in queues} if args.workers else {},
        memory_budget_mb=args.memory_budget_mb,
        worker_max_memory_mb=args.worker_max_memory_mb,
        worker_cpus=args.worker_cpus,
        prefetch=args.prefetch,
        concurrency=args.concurrency,
        reconcile_after_s=args.reconcile_after_s,
        heartbeat_timeout_s=args.heartbeat_timeout_s,
        grace_s=args.grace_s,
    )


async def run_engine_command(args: argparse.Namespace, settings: Settings) -> int:
    """The headless engine until SIGTERM/SIGINT; then it drains and exits 0."""
    from engine.runtime.engine import Engine

    configure_logging(settings)
    options = _engine_options(args)
    if args.api_port is not None:
        check_api_arguments(args)
    engine = Engine(settings, options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    api = None
    await engine.start()
    try:
        served = ""
        if args.api_port is not None:
            # The HTTP API, /metrics and /healthz, served by uvicorn in this loop.
            from queueconsole.api.app import create_app
            from queueconsole.api.server import ApiServer

            app = create_app(settings, auth=not args.no_auth, max_body_bytes=args.max_body_bytes)
            api = ApiServer(app, host=args.host, port=args.api_port)
            await api.start()
            served = f"; HTTP API, /metrics and /healthz on {api.url}"
        print(
            f"engine running: {sum(options.workers.values())} workers on "
            f"{', '.join(options.workers) or 'no queues'}{served}; Ctrl-C drains and stops",
            flush=True,
        )
        await stop.wait()
    finally:
        if api is not None:
            await api.stop()
        await engine.stop()
    return 0


async def run_scale_command(args: argparse.Namespace, settings: Settings) -> int:
    """Ask every engine over the control exchange, then report their answers: exit 1 if
    any refused (the reason on stderr), :data:`EXIT_NO_ANSWER` if none answered in time."""
    from engine.broker.control import ControlBus
    from engine.config import check_host_name
    from engine.queues.info import check_queue_name
    from engine.runtime.scaling import request_scale
    from engine.runtime.supervisor import MAX_WORKERS_PER_QUEUE

    if not 0 <= args.workers <= MAX_WORKERS_PER_QUEUE:
        raise ValidationError(
            f"cannot scale to {args.workers} workers: give 0 to {MAX_WORKERS_PER_QUEUE}"
        )
    check_queue_name(args.queue)
    if args.host is not None:
        check_host_name(args.host, "--host")
    if args.wait > MAX_SCALE_WAIT_S:
        raise ValidationError(f"--wait {args.wait:g}: give at most {MAX_SCALE_WAIT_S:g} seconds")
    bus = ControlBus(settings)
    try:
        outcome = await request_scale(
            bus, args.queue, args.workers, wait_s=args.wait, host=args.host
        )
    finally:
        await bus.close()
    if args.json:
        print_json(outcome.to_json())
    else:
        for answer in outcome.answers:
            verdict = "accepted" if answer.ok else f"refused: {answer.reason}"
            print(
                printable(
                    f"engine {answer.engine}: {verdict} (queue {args.queue!r} at "
                    f"{answer.workers} workers)",
                    keep_newlines=False,
                )
            )
    if not outcome.answered:
        report(outcome.summary())
        return EXIT_NO_ANSWER
    if outcome.refusals:
        report(outcome.summary())
        return EXIT_FAILURE
    if not args.json:
        print(outcome.summary())
    return 0
