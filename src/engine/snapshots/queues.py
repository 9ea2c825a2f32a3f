"""Queues: jobs per state, what the broker holds, and each queue's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from engine.states import State


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Jobs per state in one queue, and the queue's settings."""

    queue: str
    paused: bool
    max_waiting: int | None
    counts: Mapping[State, int]

    @staticmethod
    def build(
        queue: str, paused: bool, max_waiting: int | None, counts: Mapping[State, int]
    ) -> QueueCounts:
        """A snapshot with every state present (zero where none) and a read-only map."""
        full = {s: int(counts.get(s, 0)) for s in State}
        return QueueCounts(queue, paused, max_waiting, MappingProxyType(full))

    @property
    def total(self) -> int:
        """Jobs in the queue, any state."""
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        """Per-queue entry of ``queueconsole status --json``."""
        return {
            "paused": self.paused,
            "max_waiting": self.max_waiting,
            "counts": {s.value: n for s, n in self.counts.items()},
        }


@dataclass(frozen=True, slots=True)
class BrokerDepth:
    """What RabbitMQ holds for one engine queue; None where the broker cannot say."""

    ready: int | None
    """Waiting to be delivered."""
    unacked: int | None
    """Delivered to a consumer and not yet acknowledged (management API only)."""
    consumers: int | None = None
    """Consumers attached to the queue."""


@dataclass(frozen=True, slots=True)
class QueueView:
    """One queue: jobs per state, what the broker holds, and its settings."""

    name: str
    paused: bool
    max_waiting: int | None
    counts: tuple[tuple[State, int], ...]
    """Every state, in :class:`State` order, with its number of jobs (never negative)."""
    broker_ready: int | None = None
    """Messages ready in RabbitMQ; None when the broker could not be asked."""
    broker_unacked: int | None = None
    """Messages delivered to a worker and not yet acknowledged."""
    consumers: int | None = None

    def count(self, state: State) -> int:
        """Jobs of this queue in ``state``."""
        return dict(self.counts).get(state, 0)

    @property
    def total(self) -> int:
        """Jobs in the queue, any state."""
        return sum(n for _, n in self.counts)

    def to_json(self) -> dict[str, Any]:
        """Per-queue entry of ``queueconsole status --json``."""
        return {
            "paused": self.paused,
            "max_waiting": self.max_waiting,
            "counts": {s.value: n for s, n in self.counts},
            "broker_ready": self.broker_ready,
            "broker_unacked": self.broker_unacked,
            "consumers": self.consumers,
        }


@dataclass(frozen=True, slots=True)
class QueuesSection:
    """Every known queue. Counts come from Redis when its counters are whole, else
    from PostgreSQL's count tables (never from counting ``jobs``)."""

    available: bool
    source: str
    queues: tuple[QueueView, ...] = ()
    error: str | None = None
    broker_available: bool = False
    broker_error: str | None = None

    def queue(self, name: str) -> QueueView | None:
        """The view of one queue, if known."""
        return next((q for q in self.queues if q.name == name), None)

    def totals(self) -> Mapping[State, int]:
        """Jobs per state over all queues."""
        out = dict.fromkeys(State, 0)
        for q in self.queues:
            for s, n in q.counts:
                out[s] += n
        return out
