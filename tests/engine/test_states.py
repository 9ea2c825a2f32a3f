"""The state machine table: what is legal, and that the illegal raises a named error."""

import pytest

from engine.errors import IllegalTransition
from engine.states import LIVE, TERMINAL, TRANSITIONS, State, check, is_legal, sources


def test_every_state_can_be_reached_from_a_submission():
    reached = {None}
    frontier = [None]
    while frontier:
        current = frontier.pop()
        for f, t in TRANSITIONS:
            if f == current and t not in reached:
                reached.add(t)
                frontier.append(t)
    assert reached - {None} == set(State)


def test_completed_is_final():
    assert [t for (f, t) in TRANSITIONS if f is State.COMPLETED] == []


def test_every_live_state_can_be_cancelled():
    assert {f for (f, t) in TRANSITIONS if t is State.CANCELLED} == LIVE


@pytest.mark.parametrize("to_state", list(State))
def test_sources_match_the_table(to_state):
    assert sources(to_state) == sorted(
        f.value for (f, t) in TRANSITIONS if t is to_state and f is not None
    )


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [(f, t) for f in State for t in State if not is_legal(f, t)],
)
def test_illegal_transitions_raise_a_named_error(from_state, to_state):
    with pytest.raises(IllegalTransition) as info:
        check(7, from_state, to_state)
    assert f"job 7 is {from_state.value}" in str(info.value)
    assert info.value.from_state == from_state.value


def test_terminal_and_live_partition_the_states():
    assert set(State) == TERMINAL | LIVE
    assert not TERMINAL & LIVE
