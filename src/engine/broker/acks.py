"""Turning a set of delivery tags into as few ``basic.ack`` frames as is safe.

``multiple=True`` acknowledges *every* outstanding tag up to the one given,
including tags another batch is still working on, so it may only cover a run
of outstanding tags that are all being acknowledged now.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AckPlan:
    """``upto`` (if not None) with multiple=True, then each of ``singles`` on its own."""

    upto: int | None
    singles: tuple[int, ...]


def plan_acks(tags: Iterable[int], outstanding: Collection[int]) -> AckPlan:
    """The frames that acknowledge exactly ``tags`` given every tag still ``outstanding``.

    Tags not outstanding (acknowledged already, or unknown) are left out:
    acknowledging one twice would make the broker close the channel.
    """
    wanted = {t for t in tags if t in outstanding}
    if not wanted:
        return AckPlan(None, ())
    upto: int | None = None
    covered = 0
    for tag in sorted(outstanding):
        if tag not in wanted:
            break
        upto = tag
        covered += 1
    if upto is None or covered == 1:  # a multiple ack of one tag is just a single ack
        return AckPlan(None, tuple(sorted(wanted)))
    return AckPlan(upto, tuple(sorted(t for t in wanted if t > upto)))
