"""The section's trials against our engine and the peers, run in one suite run.

Throughput: every producer submits the same N no-op jobs while 2 worker processes
consume them; submit jobs/s is N over the producer's loop, completed jobs/s is N from
the first submit to the last job's finish. Then, each part alternating its systems:
a paced run (how long one submit blocks its caller, with 2 workers consuming), the
submit command from a shell, and the idle process trees' memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from bench.harness import Processes, Vhost, command_seconds, python_env
from bench.one_at_a_time.options import SingleOptions
from bench.one_at_a_time.trials import Run, Trial, alternate
from bench.ours import Ours
from bench.peers import PEERS
from bench.peers.runner import PeerRun

PEER_KEYS = ("celery-reliable", "celery-default", "dramatiq", "dramatiq-confirm")
"""The peer configurations this section runs, whatever ``--peers`` says: the issue's table."""
BASELINE = "celery-reliable"
"""The row every throughput ratio divides by: the peer configuration that loses nothing."""
MEMORY_WORKERS = 2  # worker processes in each idle tree
DRAMATIQ_MEMORY_THREADS = 1  # threads per Dramatiq process in its idle tree (2p×1t)
PEERS_MISSING = "n/a (pip install -e '.[bench]')"


def peer_runs(procs: Processes, vhost: Vhost, redis_url: str, prefix: str) -> dict[str, PeerRun]:
    """A runner for each of this section's peer configurations that is installed here."""
    return {
        key: PeerRun(PEERS[key], procs, vhost, redis_url, prefix)
        for key in PEER_KEYS
        if PEERS[key].available()
    }


class Section:
    """Builds and runs the trials.

    Args:
        options: the section's sizes.
        reps: repetitions of every trial (the suite's ``--reps``).
        ours: our engine's runner, or None when our runtime is missing.
        ours_missing: why ``ours`` is None.
        peers: runners by peer key (missing keys: peer not installed).
    """

    def __init__(
        self,
        options: SingleOptions,
        reps: int,
        ours: Ours | None,
        ours_missing: str | None,
        peers: Mapping[str, PeerRun],
    ) -> None:
        self.options = options
        self.reps = reps
        self.ours = ours
        self.ours_missing = ours_missing
        self.peers = peers
        self.load: list[tuple[float, float, float]] = []
        """Load averages (1, 5, 15 min) when the section started and ended."""

    def run(self) -> list[Trial]:
        """Every part, one after the other; the trials with their figures."""
        self.load.append(os.getloadavg())
        parts = [self._throughput(), self._paced(), self._cli(), self._memory()]
        for trials in parts:
            alternate(trials, self.reps)
        self.load.append(os.getloadavg())
        return [t for trials in parts for t in trials]

    # -- building trials ------------------------------------------------------

    def _ours(self, part: str, label: str, order: int, run: Run | None) -> Trial:
        missing = None if self.ours is not None else f"n/a ({self.ours_missing})"
        return Trial(part, "ours", label, run if self.ours is not None else None, missing, order)

    def _peer(self, part: str, key: str, label: str, order: int, run: Run | None) -> Trial:
        missing = None if key in self.peers else PEERS_MISSING
        return Trial(part, PEERS[key].family, label, run, missing, order, baseline=key == BASELINE)

    def _throughput(self) -> list[Trial]:
        o = self.options
        n, timeout = o.n, o.timeout_s()
        ours, peers = self.ours, self.peers

        def ours_run(producer: str, callers: int = 1) -> Run | None:
            if ours is None:
                return None
            return lambda rep: ours.e2e(rep, n, timeout, producer=producer, callers=callers)

        def peer_run(key: str) -> Run | None:
            runner = peers.get(key)
            return None if runner is None else lambda rep: runner.e2e(rep, n, timeout)

        batch = ours.batch if ours is not None else 500
        # Run order alternates ours and the peers; ``order`` sets the printed order.
        return [
            self._ours(
                "throughput",
                "ours, Client.submit() one at a time (open_client)",
                0,
                ours_run("single"),
            ),
            self._peer(
                "throughput",
                "celery-reliable",
                "Celery reliable (acks_late, prefetch 1), apply_async loop",
                3,
                peer_run("celery-reliable"),
            ),
            self._ours(
                "throughput",
                f"ours, {o.callers} concurrent callers on one client",
                1,
                ours_run("callers", o.callers),
            ),
            self._peer(
                "throughput",
                "celery-default",
                "Celery defaults, apply_async loop",
                4,
                peer_run("celery-default"),
            ),
            self._peer(
                "throughput",
                "dramatiq",
                "Dramatiq 2p x 8t, send loop, no confirms",
                5,
                peer_run("dramatiq"),
            ),
            self._ours(
                "throughput",
                f"ours, submit_many batches of {batch} (reference)",
                2,
                ours_run("e2e"),
            ),
            self._peer(
                "throughput",
                "dramatiq-confirm",
                "Dramatiq 2p x 8t, send loop, publisher confirms",
                6,
                peer_run("dramatiq-confirm"),
            ),
        ]

    def _paced(self) -> list[Trial]:
        o = self.options
        ours, peers = self.ours, self.peers

        def peer_run(key: str) -> Run | None:
            runner = peers.get(key)
            if runner is None:
                return None
            return lambda rep: runner.latency(rep, o.paced_rate, o.paced_seconds)

        return [
            self._ours(
                "paced",
                "ours, Client.submit()",
                0,
                None
                if ours is None
                else lambda rep: ours.latency(rep, o.paced_rate, o.paced_seconds),
            ),
            self._peer(
                "paced",
                "celery-reliable",
                "Celery reliable, apply_async",
                1,
                peer_run("celery-reliable"),
            ),
            self._peer("paced", "dramatiq", "Dramatiq, send", 2, peer_run("dramatiq")),
        ]

    def _cli(self) -> list[Trial]:
        o = self.options
        ours, peers = self.ours, self.peers
        celery = peers.get("celery-reliable")
        floor = [sys.executable, "-c", "pass"]
        return [
            self._ours(
                "cli",
                "queueconsole submit",
                0,
                None if ours is None else lambda rep: ours.cli_seconds(rep, o.cli_runs),
            ),
            self._peer(
                "cli",
                "celery-reliable",
                "celery call",
                1,
                None if celery is None else lambda rep: celery.cli_seconds(rep, o.cli_runs),
            ),
            Trial(
                "cli",
                "python",
                "python -c pass",
                lambda _rep: {"seconds": command_seconds(floor, python_env({}), o.cli_runs)},
                order=2,
            ),
        ]

    def _memory(self) -> list[Trial]:
        ours, peers = self.ours, self.peers
        celery, dramatiq = peers.get("celery-reliable"), peers.get("dramatiq")
        return [
            self._ours(
                "memory",
                f"queueconsole engine --workers {MEMORY_WORKERS}",
                0,
                None if ours is None else lambda rep: ours.engine_memory(rep, MEMORY_WORKERS),
            ),
            self._peer(
                "memory",
                "celery-reliable",
                f"celery worker --pool prefork --concurrency {MEMORY_WORKERS}",
                1,
                None if celery is None else lambda rep: celery.memory(rep, MEMORY_WORKERS),
            ),
            self._peer(
                "memory",
                "dramatiq",
                f"dramatiq --processes {MEMORY_WORKERS} --threads {DRAMATIQ_MEMORY_THREADS}",
                2,
                None
                if dramatiq is None
                else lambda rep: dramatiq.memory(
                    rep, MEMORY_WORKERS, threads=DRAMATIQ_MEMORY_THREADS
                ),
            ),
        ]
