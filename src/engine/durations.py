"""Durations as operators type them: ``7d``, ``12h``, ``90m``, ``1d12h``.

A bare number is refused on purpose: ``--older-than 7`` could mean seconds or
days, and guessing wrong with a delete is not an option.
"""

from __future__ import annotations

import re
from datetime import timedelta

from engine.errors import UserError

UNITS_S: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
"""Seconds per unit letter."""

MAX_DURATION = timedelta(days=36_500)  # a century; anything longer is a typo

_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE_RE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")


class DurationError(UserError):
    """A duration that cannot be read; the message shows the accepted form."""


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``7d`` → 7 days. Units: s, m, h, d, w; parts add up (``1d12h``). Must be positive."""
    cleaned = text.strip().lower().replace(" ", "") if isinstance(text, str) else ""
    if not _WHOLE_RE.match(cleaned):
        raise DurationError(
            f"{what} {text!r} is not a duration: use a number and a unit s, m, h, d or w "
            "(e.g. 7d, 12h, 90m, 1d12h)"
        )
    seconds = sum(float(n) * UNITS_S[u] for n, u in _PART_RE.findall(cleaned))
    if seconds <= 0:
        raise DurationError(f"{what} {text!r} must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"{what} {text!r} is longer than a century")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling of a duration in the same units (``7d``, ``1d12h``)."""
    remaining = int(value.total_seconds())
    if remaining <= 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        n, remaining = divmod(remaining, UNITS_S[unit])
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)
