"""Per-tenant load as the Overview, ``status --json`` and the metrics show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OTHER_TENANTS = "(other)"
"""The name under which tenants past the shown ones are summed (bounded cardinality)."""


@dataclass(frozen=True, slots=True)
class TenantLoad:
    """One tenant's jobs now and lately."""

    name: str
    waiting: int
    """Jobs pending, queued, retrying or blocked."""
    running: int
    max_running: int | None
    done: int
    """Jobs completed in the recent window (``TenantsSection.window_s``)."""
    failed: int
    """Jobs failed in the recent window."""
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        """One element of ``tenants`` in ``status --json``."""
        return {
            "name": self.name,
            "waiting": self.waiting,
            "running": self.running,
            "max_running": self.max_running,
            "done": self.done,
            "failed": self.failed,
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True)
class TenantsSection:
    """Tenants by live jobs, busiest first; the rest summed as :data:`OTHER_TENANTS`."""

    available: bool
    tenants: tuple[TenantLoad, ...] = ()
    window_s: float = 600.0
    error: str | None = None
