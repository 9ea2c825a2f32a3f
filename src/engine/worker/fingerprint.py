"""Group failures that are the same problem: exception type plus a normalised message.

Numbers, hex ids, quoted values and paths differ between occurrences of one
bug; replacing them lets the Failures pane show one group with a count
instead of a thousand rows.
"""

from __future__ import annotations

import re

_PATTERNS = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}\b"), "<uuid>"),
    (re.compile(r"'[^']*'"), "'?'"),
    (re.compile(r'"[^"]*"'), '"?"'),
    (re.compile(r"(?:/[\w.-]+){2,}"), "<path>"),
    (re.compile(r"\d+(?:\.\d+)?"), "N"),
    (re.compile(r"\s+"), " "),
)
MAX_FINGERPRINT = 300


def fingerprint(error_type: str, message: str) -> str:
    """``Type: normalised message``, bounded in length."""
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return f"{error_type}: {text}"[:MAX_FINGERPRINT]
