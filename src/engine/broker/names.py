"""Every broker name one installation uses, derived from its namespace.

Installations (and test runs) that share a RabbitMQ server differ only in
their namespace, so nothing here may produce a name outside it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PRIORITY = 3
"""Classic priority queues: RabbitMQ advises few levels; ours are 0..3."""


@dataclass(frozen=True, slots=True)
class Names:
    """Exchange and queue names for one namespace."""

    namespace: str

    @property
    def work_exchange(self) -> str:
        """Direct exchange; the routing key is the engine queue's name."""
        return f"{self.namespace}.work"

    def queue(self, engine_queue: str) -> str:
        """The durable priority queue that carries one engine queue's messages."""
        return f"{self.namespace}.q.{engine_queue}"

    @property
    def dead_letter_exchange(self) -> str:
        """Fanout exchange receiving a copy of every job that exhausted its retries."""
        return f"{self.namespace}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        """Where dead-lettered copies wait for an operator."""
        return f"{self.namespace}.dead"

    @property
    def control_exchange(self) -> str:
        """Fanout exchange every supervisor and worker listens on (scale, recycle, stop)."""
        return f"{self.namespace}.control"
