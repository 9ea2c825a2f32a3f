"""Job priorities.

Four levels, because RabbitMQ advises few levels for classic priority queues
(each level is a separate internal queue); the numeric value is what goes into
``x-max-priority`` / the message priority, higher runs first.
"""

from __future__ import annotations

from enum import IntEnum

from engine.errors import ValidationError, shown


class Priority(IntEnum):
    """Priority of a job; the value is the AMQP message priority."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """The lowercase name used in the CLI, JSON and the console."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        """Accept a name (``"high"``), a member or its number; anything else is refused."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(p.label for p in reversed(cls))
        raise ValidationError(f"unknown priority {shown(value)}; use one of {names}")


MAX_PRIORITY = max(Priority)
"""The ``x-max-priority`` every work queue is declared with."""
