"""What jobs request and workers offer (cores and MiB), and how reasons name them.

Kept in one small module because three layers need the same words: the worker
that defers a job too big for it, the store that finds the largest capacity a
live worker offers, and the readers that show requested/capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

EPSILON_CPU = 1e-9
"""Slack when adding fractional cores (0.1 + 0.2 must fit in 0.3)."""


def describe_request(cpu: float | None, memory_mb: int | None) -> str:
    """``0.5 cores and 200 MiB``, ``2 cores``, or ``nothing`` for a job without requests."""
    parts = []
    if cpu is not None:
        parts.append(f"{cpu:g} core" + ("" if cpu == 1 else "s"))
    if memory_mb is not None:
        parts.append(f"{memory_mb} MiB")
    return " and ".join(parts) or "nothing"


def describe_capacity(cpus: float | None, memory_mb: int | None) -> str:
    """A worker's capacity in the words of :func:`describe_request` (no memory limit:
    ``unlimited MiB``)."""
    cores = "? cores" if cpus is None else f"{cpus:g} core" + ("" if cpus == 1 else "s")
    memory = "unlimited MiB" if memory_mb is None else f"{memory_mb} MiB"
    return f"{cores} and {memory}"


@dataclass(frozen=True, slots=True)
class Capacity:
    """The largest capacity live workers of a queue offer, each figure its own maximum
    (the cores of one worker and the memory of another may be the largest)."""

    workers: int
    cpus: float | None
    """Most cores any of them offers (None: no live worker, or none reported it)."""
    memory_mb: int | None
    """Most MiB any of them allows; None with ``memory_unlimited`` or no workers."""
    memory_unlimited: bool = False
    """Some live worker has no memory limit."""

    def fits(self, cpu: float | None, memory_mb: int | None) -> bool:
        """Whether a request is within these maxima (so some worker may take it)."""
        if not self.workers:
            return False
        cpu_ok = cpu is None or (self.cpus is not None and cpu <= self.cpus + EPSILON_CPU)
        mem_ok = (
            memory_mb is None
            or self.memory_unlimited
            or (self.memory_mb is not None and memory_mb <= self.memory_mb)
        )
        return cpu_ok and mem_ok

    def describe(self) -> str:
        """``2 cores and 512 MiB``, or ``none (no live worker)``."""
        if not self.workers:
            return "none (no live worker)"
        return describe_capacity(self.cpus, None if self.memory_unlimited else self.memory_mb)
