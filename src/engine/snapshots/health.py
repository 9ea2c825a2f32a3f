"""Whether a service answers: the status views, ``/healthz`` and the console's banner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.snapshots.common import rounded

SERVICE_TITLES = {"postgresql": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ"}
"""How each service's name is written for people (``name`` is the JSON key)."""


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """Whether one service answers, how fast, and where it is (password masked)."""

    name: str
    up: bool
    url: str
    latency_ms: float | None = None
    error: str | None = None
    since: datetime | None = None
    """When a watcher that probes repeatedly last saw it change between up and down
    (None from a single probe)."""

    @property
    def title(self) -> str:
        """The name as shown to people: ``PostgreSQL``, ``Redis``, ``RabbitMQ``."""
        return SERVICE_TITLES.get(self.name, self.name)

    def to_json(self) -> dict[str, Any]:
        """Per-service entry of ``services`` in ``queueconsole status --json``."""
        return {
            "up": self.up,
            "latency_ms": rounded(self.latency_ms, 2),
            "url": self.url,
            "error": self.error,
        }
