"""Memory budgets asked over the control exchange: what each running engine reserves.

An attached console (``queueconsole --attach``) runs no supervisor of its own, so
nothing local knows the memory budget the engines were started with. It asks: a
``budget`` request goes out on the control exchange with a ``request_id``, and every
engine listening answers with a ``budget_answer`` carrying its supervisor's figures
(budget, reserved, per-worker limit, workers). As with scale requests
(:mod:`engine.runtime.scaling`), the requester listens before it publishes, waits at
most ``wait_s`` for the first answer and then until :data:`BUDGET_QUIET_S` passes
without another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from engine.broker.control import ControlBus
from engine.runtime.answers import AnswerGatherer
from engine.snapshots import SupervisorSnapshot

log = logging.getLogger(__name__)

BUDGET_COMMAND = "budget"
BUDGET_ANSWER_COMMAND = "budget_answer"
BUDGET_WAIT_S = 1.5  # seconds a requester waits, at most, for the engines' answers
BUDGET_QUIET_S = 0.3  # seconds without a new answer after which the rest are presumed in


@dataclass(frozen=True, slots=True)
class EngineBudget:
    """One engine's memory budget and what its supervisor reserves of it now."""

    engine: str
    """The answering supervisor's id (``host-pid``)."""
    host: str
    budget_mb: int | None
    """The ``--memory-budget`` it runs with; None when it has none."""
    reserved_mb: int
    """Its workers times the per-worker limit: what the budget counts as taken."""
    per_worker_mb: int
    workers: int

    @staticmethod
    def of(snapshot: SupervisorSnapshot) -> EngineBudget:
        """The figures of a supervisor's snapshot."""
        return EngineBudget(
            snapshot.supervisor_id,
            snapshot.host,
            snapshot.memory_budget_mb,
            snapshot.memory_reserved_mb,
            snapshot.memory_per_worker_mb,
            len(snapshot.workers),
        )

    def to_json(self) -> dict[str, Any]:
        """The answer's fields."""
        return {
            "engine": self.engine,
            "host": self.host,
            "budget_mb": self.budget_mb,
            "reserved_mb": self.reserved_mb,
            "per_worker_mb": self.per_worker_mb,
            "workers": self.workers,
        }

    @staticmethod
    def from_command(command: Mapping[str, Any]) -> EngineBudget | None:
        """The budget in a ``budget_answer`` message, or None if it is malformed."""
        engine, host = command.get("engine"), command.get("host")
        budget = command.get("budget_mb")
        reserved, per_worker = command.get("reserved_mb"), command.get("per_worker_mb")
        workers = command.get("workers")
        if not (isinstance(engine, str) and isinstance(host, str)):
            return None
        if not (budget is None or _count(budget)):
            return None
        if not (_count(reserved) and _count(per_worker) and _count(workers)):
            return None
        return EngineBudget(engine, host, budget, reserved, per_worker, workers)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def budget_answer(request_id: str, budget: EngineBudget) -> dict[str, Any]:
    """The ``budget_answer`` an engine publishes for ``request_id``."""
    return {"cmd": BUDGET_ANSWER_COMMAND, "request_id": request_id[:64], **budget.to_json()}


class BudgetRequester:
    """Asks every engine for its memory budget over a control bus.

    Args:
        bus: the control bus to publish and listen on; subscribed at the first request
            and left to its owner to close.
    """

    def __init__(self, bus: ControlBus) -> None:
        self.bus = bus
        self._answers = AnswerGatherer(bus, BUDGET_ANSWER_COMMAND, EngineBudget.from_command)

    async def request(
        self, *, wait_s: float = BUDGET_WAIT_S, quiet_s: float = BUDGET_QUIET_S
    ) -> tuple[EngineBudget, ...]:
        """Every answer that arrived in time, by engine id (empty: no engine listens).

        Raises :class:`~engine.errors.ServiceUnavailable` when the broker cannot be reached.
        """
        answers = await self._answers.ask({"cmd": BUDGET_COMMAND}, wait_s=wait_s, quiet_s=quiet_s)
        by_engine = {a.engine: a for a in answers}
        return tuple(by_engine[k] for k in sorted(by_engine))
