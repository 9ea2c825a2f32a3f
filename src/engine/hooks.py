"""Work that follows a commit: publishing runnable jobs, refreshing the status cache.

The store never publishes or caches inside a transaction; whoever commits hands
the :class:`~engine.store.changes.ChangeSet` to each hook. A hook that fails
is logged and skipped: the database already holds the truth, and the
reconciler republishes anything a failed publish left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from engine.store.changes import ChangeSet

log = logging.getLogger(__name__)


class AfterCommit(Protocol):
    """Something to do once a change set is durable."""

    async def after_commit(self, changes: ChangeSet) -> None:
        """React to committed changes; must not raise for a service being down."""


@runtime_checkable
class Closable(Protocol):
    """A hook that holds a connection (the publisher's, the status cache's), closed by
    whoever made the hook when it shuts down. Not part of :class:`AfterCommit`: a
    client only runs hooks, it never owns them."""

    async def close(self) -> None:
        """Release the connection; a hook is not used after this."""


async def run_hooks(hooks: Sequence[AfterCommit], changes: ChangeSet) -> None:
    """Run every hook; a failing one is logged, the others still run."""
    if not changes:
        return
    for hook in hooks:
        try:
            await hook.after_commit(changes)
        except Exception:  # a hook's failure must not undo or hide a committed change
            log.exception("after-commit hook %r failed", hook)
