"""The stream's ordering rules, without a database: ids in order, late commits waited
for, rolled-back ids let go once snapshots prove it."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.readapi.event_order import EventOrder
from engine.snapshots.transitions import TransitionEvent
from engine.states import State

AT = datetime(2026, 1, 1, tzinfo=UTC)


def ev(i: int) -> TransitionEvent:
    return TransitionEvent(i, 1, State.QUEUED, State.RUNNING, AT, None, "q", "t", None, 1, None)


def ids(events: list[TransitionEvent]) -> list[int]:
    return [e.id for e in events]


def test_contiguous_ids_are_handed_out_at_once_in_order() -> None:
    order = EventOrder(0)
    assert ids(order.absorb([ev(1), ev(2), ev(3)], xmin=10, xmax=10, now=0.0)) == [1, 2, 3]
    assert order.settled == 3 and not order.gaps


def test_a_missing_id_holds_later_ones_until_it_commits() -> None:
    order = EventOrder(0)
    assert ids(order.absorb([ev(1), ev(3), ev(4)], xmin=10, xmax=12, now=0.0)) == [1]
    assert order.gap_ranges() == ([2], [2])
    # its writer (xid 11, say) is still running: xmin stays below 12
    assert order.absorb([], xmin=11, xmax=13, now=0.1) == []
    assert ids(order.absorb([ev(2)], xmin=11, xmax=13, now=0.2)) == [2, 3, 4]
    assert order.settled == 4 and not order.held


def test_a_rolled_back_id_is_let_go_after_two_snapshots_prove_its_writer_ended() -> None:
    order = EventOrder(0)
    order.absorb([ev(1), ev(3)], xmin=10, xmax=12, now=0.0)
    assert order.absorb([], xmin=12, xmax=15, now=0.1) == []  # first proof
    assert order.absorb([], xmin=14, xmax=16, now=0.2) == []  # not yet past the second
    assert ids(order.absorb([], xmin=15, xmax=16, now=0.3)) == [3]
    assert order.skipped == 0


def test_a_gap_nobody_can_prove_is_given_up_on_after_the_limit() -> None:
    order = EventOrder(0, give_up_s=5.0)
    order.absorb([ev(1), ev(3)], xmin=10, xmax=12, now=0.0)
    assert order.absorb([], xmin=3, xmax=20, now=4.0) == []  # an old transaction holds xmin
    assert ids(order.absorb([], xmin=3, xmax=20, now=6.0)) == [3]
    assert order.skipped == 1


def test_a_gap_filled_in_the_middle_splits_and_keeps_waiting_for_the_rest() -> None:
    order = EventOrder(0)
    order.absorb([ev(1), ev(5)], xmin=10, xmax=12, now=0.0)
    assert order.gap_ranges() == ([2], [4])
    assert order.absorb([ev(3)], xmin=10, xmax=12, now=0.1) == []
    assert order.gap_ranges() == ([2, 4], [2, 4])
    assert ids(order.absorb([ev(2)], xmin=10, xmax=12, now=0.2)) == [2, 3]
    assert ids(order.absorb([ev(4)], xmin=10, xmax=12, now=0.3)) == [4, 5]


def test_nothing_at_or_below_the_start_is_handed_out_again() -> None:
    order = EventOrder(10)
    assert ids(order.absorb([ev(9), ev(10), ev(11)], xmin=1, xmax=1, now=0.0)) == [11]
