"""The stream's ordering rules, without a database: ids in order, late commits waited
for, rolled-back ids let go once the transactions that may hold them have ended."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.readapi.event_order import EventOrder
from engine.snapshots.transitions import TransitionEvent
from engine.states import State

AT = datetime(2026, 1, 1, tzinfo=UTC)
NONE: frozenset[int] = frozenset()


def ev(i: int) -> TransitionEvent:
    return TransitionEvent(i, 1, State.QUEUED, State.RUNNING, AT, None, "q", "t", None, 1, None)


def ids(events: list[TransitionEvent]) -> list[int]:
    return [e.id for e in events]


def test_contiguous_ids_are_handed_out_at_once_in_order() -> None:
    order = EventOrder(0)
    assert ids(order.absorb([ev(1), ev(2), ev(3)], NONE, now=0.0)) == [1, 2, 3]
    assert order.settled == 3 and not order.gaps


def test_a_missing_id_holds_later_ones_until_it_commits() -> None:
    order = EventOrder(0)
    assert ids(order.absorb([ev(1), ev(3), ev(4)], frozenset({11}), now=0.0)) == [1]
    assert order.gap_ranges() == ([2], [2])
    assert order.absorb([], frozenset({11, 12}), now=0.1) == []  # its writer, 11, still runs
    assert ids(order.absorb([ev(2)], frozenset({12}), now=0.2)) == [2, 3, 4]
    assert order.settled == 4 and not order.held


def test_a_rolled_back_id_is_let_go_after_two_reads_prove_its_writer_ended() -> None:
    order = EventOrder(0)
    order.absorb([ev(1), ev(3)], frozenset({11}), now=0.0)
    assert order.absorb([], frozenset({12}), now=0.1) == []  # 11 ended: first proof
    assert order.absorb([], frozenset({12, 13}), now=0.2) == []  # 12 still runs
    assert ids(order.absorb([], frozenset({13}), now=0.3)) == [3]
    assert order.skipped == 0


def test_a_gap_nobody_can_prove_is_given_up_on_after_the_limit() -> None:
    order = EventOrder(0, give_up_s=5.0)
    order.absorb([ev(1), ev(3)], frozenset({7}), now=0.0)
    assert order.absorb([], frozenset({7}), now=4.0) == []  # a transaction left open
    assert ids(order.absorb([], frozenset({7}), now=6.0)) == [3]
    assert order.skipped == 1


def test_a_gap_filled_in_the_middle_splits_and_keeps_waiting_for_the_rest() -> None:
    order = EventOrder(0)
    busy = frozenset({11})
    order.absorb([ev(1), ev(5)], busy, now=0.0)
    assert order.gap_ranges() == ([2], [4])
    assert order.absorb([ev(3)], busy, now=0.1) == []
    assert order.gap_ranges() == ([2, 4], [2, 4])
    assert ids(order.absorb([ev(2)], busy, now=0.2)) == [2, 3]
    assert ids(order.absorb([ev(4)], busy, now=0.3)) == [4, 5]


def test_nothing_at_or_below_the_start_is_handed_out_again() -> None:
    order = EventOrder(10)
    assert ids(order.absorb([ev(9), ev(10), ev(11)], NONE, now=0.0)) == [11]
