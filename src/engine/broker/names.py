"""Every broker name one installation uses, derived from its namespace.

Installations (and test runs) that share a RabbitMQ server differ only in
their namespace, so nothing here may produce a name outside it.

With quorum queues (``queue_type = "quorum"``) an engine queue is one broker
queue per priority level, because RabbitMQ 3.x quorum queues have no
``x-max-priority``. The top level keeps the classic queue's name and routing
key: declaring it with the other type is what RabbitMQ refuses (406), so an
installation switched between types without deleting its queues is stopped at
start-up instead of leaving messages in queues nobody consumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import Settings

MAX_PRIORITY = 3
"""Classic priority queues: RabbitMQ advises few levels; ours are 0..3."""


@dataclass(frozen=True, slots=True)
class Names:
    """Exchange and queue names for one namespace."""

    namespace: str
    queue_type: str = "classic"
    """``classic`` or ``quorum``: see the module's docstring."""

    @classmethod
    def of(cls, settings: Settings) -> Names:
        """The names of the installation ``settings`` describe."""
        return cls(settings.namespace, settings.queue_type)

    @property
    def quorum(self) -> bool:
        """True when every engine queue is one quorum queue per priority level."""
        return self.queue_type == "quorum"

    @property
    def work_exchange(self) -> str:
        """Direct exchange; the routing key is the engine queue's name."""
        return f"{self.namespace}.work"

    def queue(self, engine_queue: str) -> str:
        """The durable priority queue that carries one engine queue's messages."""
        return f"{self.namespace}.q.{engine_queue}"

    def levels(self) -> tuple[int, ...]:
        """The priority levels that have a broker queue of their own, highest first."""
        return tuple(range(MAX_PRIORITY, -1, -1)) if self.quorum else (MAX_PRIORITY,)

    def level_queue(self, engine_queue: str, priority: int) -> str:
        """The broker queue a message of ``priority`` waits in (classic: the one queue)."""
        level = _level(priority)
        if not self.quorum or level == MAX_PRIORITY:
            return self.queue(engine_queue)
        return f"{self.queue(engine_queue)}.p{level}"

    def routing_key(self, engine_queue: str, priority: int) -> str:
        """The work exchange's routing key for a message of ``priority``."""
        level = _level(priority)
        if not self.quorum or level == MAX_PRIORITY:
            return engine_queue
        return f"{engine_queue}.p{level}"

    def broker_queues(self, engine_queue: str) -> list[str]:
        """Every broker queue of one engine queue, highest priority first."""
        return [self.level_queue(engine_queue, level) for level in self.levels()]

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


def _level(priority: int) -> int:
    """A message priority as a level that has a queue (AMQP allows 0..255)."""
    return max(0, min(int(priority), MAX_PRIORITY))
