"""Helpers every snapshot module shares: how times and figures are written in JSON."""

from __future__ import annotations

from datetime import UTC, datetime

SOURCE_REDIS = "redis"
SOURCE_POSTGRESQL = "postgresql"
SOURCE_NONE = "none"


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with time zone, or None."""
    return value.isoformat() if value is not None else None


def rounded(value: float | None, digits: int = 1) -> float | None:
    """``value`` rounded for a JSON document, or None."""
    return None if value is None else round(value, digits)


def epoch_to_datetime(seconds: float) -> datetime:
    """A Unix time as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)
