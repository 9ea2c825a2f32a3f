"""Printing for the command line: JSON for tools, aligned text for people.

Text that comes from jobs (payloads, errors, logs) can hold terminal escape
sequences; :func:`printable` neutralises them so printing a job can never
move the cursor, clear the screen or retitle the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_C1_RE = re.compile(r"[\x7f-\x9f]")


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with control characters (ESC, C1, …) shown as ``\\xNN`` escapes.

    Lone surrogates (undecodable bytes of a command line argument quoted back in an
    error) become ``\\udcNN``: a UTF-8 stream refuses to encode them at all.
    """
    cleaned = _CONTROL_RE.sub(_escape, text)
    return cleaned if keep_newlines else cleaned.replace("\n", "\\n").replace("\t", " ")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def dumps(document: Any) -> str:
    """JSON with non-ASCII kept readable but DEL and C1 controls escaped."""
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    return _JSON_C1_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(document: Any, out: TextIO | None = None) -> None:
    """Print one JSON document."""
    print(dumps(document), file=out or sys.stdout)


def when(value: datetime | None) -> str:
    """A timestamp for tables: UTC, to the second."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO | None = None
) -> None:
    """Print rows under headers, columns padded to fit."""
    cells = [[printable(str(c), keep_newlines=False) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    stream = out or sys.stdout
    print(
        "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        file=stream,
    )
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=stream)
