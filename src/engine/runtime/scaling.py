"""Scale requests that are answered: who accepted, who refused and why.

A ``scale`` command goes out on the control exchange to every engine listening
now. A request carries a ``request_id``; each engine that receives it decides
(its supervisor applies the new target, or refuses: over its memory budget, a
count out of range) and publishes a ``scale_answer`` with the same id on the same
exchange. The requester listens before it publishes, so no answer can pass it by.

How many engines there are is not recorded anywhere (the control exchange is
fire-and-forget by design), so the requester cannot know when everyone has
answered. It waits at most ``wait_s`` for the first answer, then keeps listening
until :data:`SCALE_QUIET_S` passes without another (never past ``wait_s``):
engines answer within milliseconds of each other, since deciding is one check
and starting or draining processes happens after the answer. No answer at all
means no engine is listening (or none that knows how to answer).

A request may name a ``host``: only the engines whose host name
(:attr:`engine.config.Settings.host`) is that one act and answer; the others
ignore it without a word, so "no answer" then means no engine on that host.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.broker.control import ControlBus
from engine.runtime.answers import AnswerGatherer

log = logging.getLogger(__name__)

SCALE_WAIT_S = 5.0  # seconds a requester waits, at most, for the engines' answers
SCALE_QUIET_S = 0.5  # seconds without a new answer after which the rest are presumed in
SCALE_COMMAND = "scale"
ANSWER_COMMAND = "scale_answer"


@dataclass(frozen=True, slots=True)
class ScaleAnswer:
    """One engine's answer to a scale request."""

    engine: str
    """The answering supervisor's id (``host-pid``)."""
    host: str
    ok: bool
    workers: int
    """The target it now runs for the queue (its old one when it refused)."""
    reason: str | None = None
    """Why it refused; None when it accepted."""

    def to_json(self) -> dict[str, Any]:
        """``{"engine", "host", "ok", "workers", "reason"}``: ``scale --json``'s answers."""
        return {
            "engine": self.engine,
            "host": self.host,
            "ok": self.ok,
            "workers": self.workers,
            "reason": self.reason,
        }

    @staticmethod
    def from_command(command: Mapping[str, Any]) -> ScaleAnswer | None:
        """The answer in a ``scale_answer`` message, or None if it is malformed."""
        engine, host, ok = command.get("engine"), command.get("host"), command.get("ok")
        workers, reason = command.get("workers"), command.get("reason")
        if not (isinstance(engine, str) and isinstance(host, str) and isinstance(ok, bool)):
            return None
        if isinstance(workers, bool) or not isinstance(workers, int):
            return None
        if reason is not None and not isinstance(reason, str):
            return None
        return ScaleAnswer(engine, host, ok, workers, reason)


@dataclass(frozen=True, slots=True)
class ScaleOutcome:
    """Every answer a scale request received within its wait."""

    queue: str
    workers: int
    answers: tuple[ScaleAnswer, ...]
    wait_s: float
    host: str | None = None
    """The one host the request was for; None: every engine."""

    @property
    def refusals(self) -> tuple[ScaleAnswer, ...]:
        """The answers of engines that refused."""
        return tuple(a for a in self.answers if not a.ok)

    @property
    def answered(self) -> bool:
        """Whether any engine answered within the wait."""
        return bool(self.answers)

    def summary(self) -> str:
        """One line a person can act on: who refused and why, or how many accepted."""
        if not self.answers:
            if self.host is not None:
                return (
                    f"no engine on host {self.host!r} answered within {self.wait_s:g} s: is "
                    "one running there (`status` lists the hosts that have workers)?"
                )
            return (
                f"no engine answered within {self.wait_s:g} s: is `queueconsole engine` (or a "
                "console) running against this installation?"
            )
        refused = self.refusals
        if refused:
            reasons = "; ".join(f"{a.engine}: {a.reason}" for a in refused)
            return (
                f"scaling queue {self.queue!r} to {self.workers} refused by {len(refused)} of "
                f"{len(self.answers)} engine{'s' if len(self.answers) != 1 else ''}: {reasons}"
            )
        n = len(self.answers)
        where = f" on host {self.host!r}" if self.host is not None else ""
        return (
            f"queue {self.queue!r}: {self.workers} workers on {n} engine{'s' if n != 1 else ''}"
            + where
        )

    def to_json(self) -> dict[str, Any]:
        """``scale --json``: ``queue``, ``host``, ``workers``, ``answers``, ``refused``,
        ``answered``."""
        return {
            "queue": self.queue,
            "host": self.host,
            "workers": self.workers,
            "answers": [a.to_json() for a in self.answers],
            "refused": len(self.refusals),
            "answered": self.answered,
        }


def answer_message(request_id: str, answer: ScaleAnswer) -> dict[str, Any]:
    """The ``scale_answer`` an engine publishes for ``request_id``."""
    return {"cmd": ANSWER_COMMAND, "request_id": request_id, **answer.to_json()}


class ScaleRequester:
    """Sends scale requests over a control bus and gathers the engines' answers.

    Args:
        bus: the control bus to publish and listen on; subscribed at the first request
            and left to its owner to close.
    """

    def __init__(self, bus: ControlBus) -> None:
        self.bus = bus
        self._answers = AnswerGatherer(bus, ANSWER_COMMAND, ScaleAnswer.from_command)

    async def request(
        self,
        queue: str,
        workers: int,
        *,
        wait_s: float = SCALE_WAIT_S,
        quiet_s: float = SCALE_QUIET_S,
        host: str | None = None,
    ) -> ScaleOutcome:
        """Ask every engine (only those on ``host`` if given) to run ``workers`` processes
        on ``queue``; gather the answers.

        Raises :class:`~engine.errors.ServiceUnavailable` when the broker cannot be reached.
        """
        command: dict[str, Any] = {"cmd": SCALE_COMMAND, "queue": queue, "workers": workers}
        if host is not None:
            command["host"] = host
        answers = await self._answers.ask(command, wait_s=wait_s, quiet_s=quiet_s)
        return ScaleOutcome(queue, workers, tuple(answers), wait_s, host)


async def request_scale(
    bus: ControlBus,
    queue: str,
    workers: int,
    *,
    wait_s: float = SCALE_WAIT_S,
    quiet_s: float = SCALE_QUIET_S,
    host: str | None = None,
) -> ScaleOutcome:
    """One scale request on ``bus`` (see :class:`ScaleRequester`)."""
    return await ScaleRequester(bus).request(
        queue, workers, wait_s=wait_s, quiet_s=quiet_s, host=host
    )
