"""The worker's link to the status cache, kept in one place.

A worker runs every job correctly without Redis (the cache logs the outage and
the live views fall back to PostgreSQL); with it, the worker feeds the live
views. This module is the only place that knows how to build the cache's hook.
"""

from __future__ import annotations

from engine.config import Settings
from engine.hooks import AfterCommit
from engine.status.cache import StatusCache


def status_hooks(settings: Settings) -> list[AfterCommit]:
    """The status cache as an after-commit hook."""
    return [StatusCache(settings)]
