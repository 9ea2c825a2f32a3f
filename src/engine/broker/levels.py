"""Which priority levels a quorum-queue consumer must look at before a lower one.

With quorum queues an engine queue is one broker queue per priority level
(``engine.broker.names``), each with a consumer. RabbitMQ pushes every level's
messages as its consumer has credit, so a batch about to hand over a
lower-level message must first make sure no higher-level one is waiting. A
higher level needs that check only when the broker may know of messages we do
not: after we settled one of its messages (the freed credit may be carrying a
message to us right now), or while its consumer has no credit left (ready
messages wait at the broker). A level whose consumer has credit and has had no
settlement since its last check has been pushed everything it had.

This module only keeps that account, per channel; the consumer does the asking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from engine.broker.names import MAX_PRIORITY


class LevelAccount:
    """Per channel: each unsettled delivery's level, how many each level holds, and which
    levels changed since they were last checked."""

    def __init__(self, credit: int) -> None:
        self.credit = credit
        """The per-consumer prefetch each level's consumer was started with."""
        self._level_of: dict[int, int] = {}
        self._pushed: set[int] = set()
        self._held: Counter[int] = Counter()
        self._dirty: set[int] = set()

    def level(self, tag: int) -> int:
        """The level of an unsettled delivery (the top level for one we do not know)."""
        return self._level_of.get(tag, MAX_PRIORITY)

    def received(self, tag: int, level: int, *, pushed: bool) -> None:
        """A delivery (``pushed``) or a fetched message arrived from ``level``."""
        self._level_of[tag] = level
        if pushed:
            self._pushed.add(tag)
            self._held[level] += 1

    def settled(self, tags: Iterable[int]) -> None:
        """These deliveries were acked or nacked: their levels' consumers may be pushed
        more (a pushed delivery gives its consumer's credit back)."""
        for tag in tags:
            level = self._level_of.pop(tag, None)
            if level is None:
                continue
            self._dirty.add(level)
            if tag in self._pushed:
                self._pushed.discard(tag)
                self._held[level] -= 1

    def to_check(self, below: int) -> list[int]:
        """Levels above ``below`` that may have messages we have not seen, highest first."""
        return [
            level
            for level in range(MAX_PRIORITY, below, -1)
            if level in self._dirty or self._held[level] >= self.credit
        ]

    def checked(self, level: int) -> None:
        """``level`` was asked and everything it had pushed has arrived."""
        self._dirty.discard(level)
