"""Budget answers over the control exchange: what is accepted, and how an attached
console adds up several engines."""

from __future__ import annotations

import pytest

from engine.runtime.budgets import EngineBudget, budget_answer
from queueconsole.console.link import engines_snapshot


def test_an_answer_round_trips_and_a_malformed_one_is_refused():
    budget = EngineBudget("host-a-1", "host-a", 2048, 512, 256, 2)
    message = budget_answer("r1", budget)
    assert message["cmd"] == "budget_answer" and message["request_id"] == "r1"
    assert EngineBudget.from_command(message) == budget
    assert EngineBudget.from_command({**message, "budget_mb": None}).budget_mb is None


@pytest.mark.parametrize(
    "change",
    [
        {"engine": 7},
        {"host": None},
        {"budget_mb": "2048"},
        {"reserved_mb": -1},
        {"workers": True},
        {"per_worker_mb": 1.5},
    ],
)
def test_malformed_answers_are_refused(change):
    message = budget_answer("r1", EngineBudget("e", "h", 100, 0, 50, 0))
    assert EngineBudget.from_command({**message, **change}) is None


def test_several_engines_add_up_and_one_without_a_budget_makes_it_unbounded():
    a = EngineBudget("a-1", "a", 1000, 200, 100, 2)
    b = EngineBudget("b-1", "b", 500, 100, 100, 1)
    both = engines_snapshot([a, b])
    assert (both.memory_budget_mb, both.memory_reserved_mb) == (1500, 300)
    unbounded = engines_snapshot([a, EngineBudget("c-1", "c", None, 50, 50, 1)])
    assert unbounded.memory_budget_mb is None and unbounded.memory_reserved_mb == 250
