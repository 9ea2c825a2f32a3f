"""What ``queueconsole doctor`` finds: one named result per check, and an exit status.

The check names and the JSON fields are a contract for scripts: names are
added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    """How a check came out, best first."""

    OK = "ok"
    WARN = "warn"
    """Works, but not as the design expects (a cache that refuses writes when full, no
    unacked counts, a clock that is off): say what to change."""
    FAIL = "fail"
    """Will not work: a service that does not answer, a schema behind the code."""


EXIT_CODES = {CheckStatus.OK: 0, CheckStatus.WARN: 1, CheckStatus.FAIL: 2}
"""``queueconsole doctor``'s exit status: the worst result's."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: what was found and, unless it is fine, what to change."""

    name: str
    """Stable, dotted: ``redis.maxmemory_policy``, ``postgresql.max_connections``."""
    status: CheckStatus
    summary: str
    """What was found, e.g. ``maxmemory-policy is noeviction``."""
    advice: str | None = None
    """What to change (None when there is nothing to do)."""

    def to_json(self) -> dict[str, Any]:
        """``{"name", "status", "summary", "advice"}``."""
        return {
            "name": self.name,
            "status": str(self.status),
            "summary": self.summary,
            "advice": self.advice,
        }


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check that ran, in a fixed order (PostgreSQL, RabbitMQ, Redis)."""

    checks: tuple[CheckResult, ...]

    @property
    def status(self) -> CheckStatus:
        """The worst result (``ok`` when every check passed)."""
        order = list(CheckStatus)
        return max((c.status for c in self.checks), key=order.index, default=CheckStatus.OK)

    @property
    def exit_code(self) -> int:
        """0 all ok, 1 warnings, 2 failures."""
        return EXIT_CODES[self.status]

    def problems(self) -> tuple[CheckResult, ...]:
        """The checks that did not pass."""
        return tuple(c for c in self.checks if c.status is not CheckStatus.OK)

    def get(self, name: str) -> CheckResult | None:
        """The check called ``name``, if it ran."""
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """``{"status", "checks": [...]}`` (``queueconsole doctor --json``)."""
        return {"status": str(self.status), "checks": [c.to_json() for c in self.checks]}
