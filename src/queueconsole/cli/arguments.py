"""Parsing of command-line values shared by several commands."""

from __future__ import annotations

import json
from typing import Any

from engine.errors import UserError


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
