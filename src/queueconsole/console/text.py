"""Turning job data into terminal text safely.

Job payloads, errors, logs and type names are written by whoever submitted
the job; they are shown as :class:`rich.text.Text` built from plain strings,
never parsed as console markup, so ``[bold red]`` or ``[link=…]`` in a payload
is drawn as those characters. Control characters are made visible as
``\\xNN`` too, so a payload cannot move the cursor or retitle the terminal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from rich.text import Text

from engine.states import State

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

STATE_STYLES: dict[State, str] = {
    State.PENDING: "bright_black",
    State.QUEUED: "cyan",
    State.RUNNING: "bold blue",
    State.RETRYING: "yellow",
    State.COMPLETED: "green",
    State.FAILED: "bold red",
    State.BLOCKED: "magenta",
    State.CANCELLED: "bright_black",
}
"""Colours by state from the 16 ANSI colours, so 256-colour terminals show them
exactly; the state's name is always written next to (or instead of) the colour."""


def clean(value: str, *, one_line: bool = False) -> str:
    """``value`` with control characters shown as ``\\xNN`` (newlines kept unless one_line)."""
    cleaned = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if one_line:
        cleaned = cleaned.replace("\n", "⏎").replace("\t", " ")
    return cleaned


def literal(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """Job text as a :class:`Text` that is never interpreted as markup."""
    return Text(clean("" if value is None else str(value), one_line=one_line), style=style)


def state_text(state: State) -> Text:
    """A state's name in its colour."""
    return Text(state.value, style=STATE_STYLES[state])


def when(value: datetime | None) -> str:
    """A timestamp: UTC, to the second (as the CLI prints it)."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def clock_time(value: datetime | None) -> str:
    """Only the time of day (UTC), for narrow columns."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%H:%M:%S")


def age(value: datetime | None, now: datetime) -> str:
    """How long ago ``value`` was, in the largest sensible unit (``4s``, ``3m``, ``2h``)."""
    if value is None:
        return "-"
    seconds = max(0.0, (now - value).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def megabytes(value: float | None) -> str:
    """Bytes as ``123M`` / ``1.2G``."""
    if value is None:
        return "-"
    mb = value / (1024 * 1024)
    return f"{mb / 1024:.1f}G" if mb >= 1024 else f"{mb:.0f}M"


def count(value: int | None) -> str:
    """A count, ``-`` when unknown."""
    return "-" if value is None else f"{value:,}"


def duration(seconds: float | None) -> str:
    """A duration in seconds for humans."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m"


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | tuple[float, ...], width: int = 12) -> str:
    """The last ``width`` values as block characters, scaled between their own min and max.

    Scaling from the minimum makes a worker's memory growth visible even when
    it is a few percent of its size; a flat series is drawn as a low line.
    """
    shown = list(values)[-width:]
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high <= low:
        return _BARS[0] * len(shown)
    top = len(_BARS) - 1
    return "".join(_BARS[min(top, int((v - low) / (high - low) * top))] for v in shown)
