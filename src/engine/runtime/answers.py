"""Asking every engine something over the control exchange and gathering the answers.

The control exchange is a fan-out with no reply queue: a request carries a
``request_id``, each engine that acts on it publishes an answer with the same id on
the same exchange, and the requester picks out the answers to its own requests. How
many engines exist is not known, so the requester listens before it publishes,
waits at most ``wait_s`` for the first answer, and then until ``quiet_s`` passes
without another: by then the engines that will answer have. Scale requests
(:mod:`engine.runtime.scaling`) and budget requests (:mod:`engine.runtime.budgets`)
both ask this way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from engine.broker.control import ControlBus

log = logging.getLogger(__name__)

T = TypeVar("T")


class AnswerGatherer(Generic[T]):
    """Publishes requests on a control bus and gathers the answers to each.

    Args:
        bus: the control bus to publish and listen on; subscribed at the first request
            and left to its owner to close.
        answer_command: the ``cmd`` of the answers (others on the bus are ignored).
        parse: an answer message's content, or None when it is malformed (logged).
    """

    def __init__(
        self,
        bus: ControlBus,
        answer_command: str,
        parse: Callable[[Mapping[str, Any]], T | None],
    ) -> None:
        self.bus = bus
        self.answer_command = answer_command
        self.parse = parse
        self._pending: dict[str, tuple[list[T], asyncio.Event]] = {}
        self._subscribed = False

    async def _on_command(self, command: dict[str, Any]) -> None:
        if command.get("cmd") != self.answer_command:
            return
        waiting = self._pending.get(str(command.get("request_id")))
        if waiting is None:
            return  # someone else's request, or one that stopped waiting
        answer = self.parse(command)
        if answer is None:
            log.warning("ignored a malformed %s: %r", self.answer_command, command)
            return
        answers, arrived = waiting
        answers.append(answer)
        arrived.set()

    async def ask(self, command: dict[str, Any], *, wait_s: float, quiet_s: float) -> list[T]:
        """Publish ``command`` (a ``request_id`` is added) and return the answers that
        arrived in time, in arrival order (empty: no engine answered).

        Raises :class:`~engine.errors.ServiceUnavailable` when the broker cannot be reached.
        """
        if not self._subscribed:
            await self.bus.subscribe(self._on_command)
            self._subscribed = True
        request_id = uuid.uuid4().hex
        answers: list[T] = []
        arrived = asyncio.Event()
        self._pending[request_id] = (answers, arrived)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        try:
            await self.bus.publish({**command, "request_id": request_id})
            while True:
                left = deadline - loop.time()
                timeout = min(quiet_s, left) if answers else left
                if timeout <= 0:
                    break
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), timeout)
                except TimeoutError:
                    if answers:
                        break  # quiet: the engines that will answer have
        finally:
            self._pending.pop(request_id, None)
        return answers
