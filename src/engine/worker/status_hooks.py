"""The worker's link to the status cache, kept in one place.

The status cache (:mod:`engine.status`) is optional at run time: a worker
without it still runs every job correctly, it just does not feed the live
views. This module is the only place that knows how to build it.
"""

from __future__ import annotations

from engine.config import Settings
from engine.hooks import AfterCommit


def status_hooks(settings: Settings) -> list[AfterCommit]:
    """The status cache as an after-commit hook, when the status package is present."""
    try:
        from engine.status.cache import StatusCache
    except ImportError:
        return []
    return [StatusCache(settings)]
