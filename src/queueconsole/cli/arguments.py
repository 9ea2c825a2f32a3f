"""Parsing of command-line values shared by several commands.

The argparse ``type=`` functions here raise :class:`argparse.ArgumentTypeError`
with a message naming the value, so a mistake exits with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TypeVar

from engine.errors import UserError
from engine.priority import Priority
from engine.states import State

N = TypeVar("N", int, float)

MAX_JOB_ID = 2**63  # PostgreSQL's bigint: anything at or above it cannot be a job id


def _number(value: str, convert: Callable[[str], N], noun: str) -> N:
    try:
        return convert(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {noun}") from None


def job_id(value: str) -> int:
    """A job id: a positive whole number within PostgreSQL's bigint."""
    number = _number(value, int, "a job id")
    if number <= 0 or number >= MAX_JOB_ID:
        raise argparse.ArgumentTypeError(f"{value!r} is not a job id")
    return number


def whole_number(value: str) -> int:
    """Any whole number (the command checks its range and says why)."""
    return _number(value, int, "a whole number")


def non_negative_int(value: str) -> int:
    """A whole number of at least 0."""
    number = whole_number(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must not be negative")
    return number


def seconds(value: str) -> float:
    """A finite positive number of seconds."""
    number = _number(value, float, "a number of seconds")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be a positive number of seconds")
    return number


def non_negative_seconds(value: str) -> float:
    """A finite number of seconds, 0 or more (a backoff of 0 retries at once)."""
    number = _number(value, float, "a number of seconds")
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or a positive number of seconds")
    return number


def state(value: str) -> State:
    """A job state by name, in any case."""
    try:
        return State(value.lower())
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise argparse.ArgumentTypeError(f"unknown state {value!r}; use one of {names}") from None


def priority(value: str) -> Priority:
    """A priority by name (critical, high, normal, low) or number."""
    try:
        return Priority.parse(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_payload(raw: str | None) -> dict[str, Any]:
    """``--payload`` as a JSON object (``{}`` when absent); a readable error otherwise."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, or an integer too long for Python to read
        raise UserError(f"--payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise UserError("--payload is nested too deeply") from None
    if not isinstance(value, dict):
        raise UserError(f"--payload must be a JSON object, not {type(value).__name__}")
    return value
