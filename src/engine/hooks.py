"""Work that follows a commit: publishing runnable jobs, refreshing the status cache.

The store never publishes or caches inside a transaction; whoever commits hands
the :class:`~engine.store.changes.ChangeSet` to each hook. A hook that fails
is logged and skipped: the database already holds the truth, and the
reconciler republishes anything a failed publish left behind.
"""

from __future__ import annotations

import asyncio
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


FLUSH_WAIT_S = 10.0  # seconds a closing client waits for hooks still running in background


class BackgroundHooks:
    """After-commit hooks run off the committing caller's path.

    A submit returns once its commit is durable; publishing its job and writing
    its status follow here. Each hook has a lane of its own (the status cache
    never waits for a broker confirm): change sets committed while a lane is
    busy are merged and handed to the hook together, so many callers' jobs go
    out as one stream of publishes with their confirms in flight together, and
    one Redis pipeline. A hook may ask for more coalescing with a ``coalesce_s``
    attribute (seconds its lane waits, once idle, before taking what waits): the
    status cache does, as a live view gains nothing from a write a few
    milliseconds sooner, while a one-at-a-time producer would pay a pipeline per
    submit. Nothing is lost by going later: the database holds every
    job, and the dispatch reconciler publishes a runnable job whose message never
    arrived (a process killed first, a broker down); the status cache is only a
    cache. :meth:`flush` waits for what is under way when a client closes.

    Args:
        hooks: the hooks, read at each hand-over (a client's own list).
    """

    def __init__(self, hooks: Sequence[AfterCommit]) -> None:
        self.hooks = hooks
        self._lanes: dict[int, _Lane] = {}

    def put(self, changes: ChangeSet) -> None:
        """Hand a committed change set to every hook; returns at once."""
        if not changes:
            return
        for hook in self.hooks:
            lane = self._lanes.get(id(hook))
            if lane is None or lane.hook is not hook:
                lane = self._lanes[id(hook)] = _Lane(hook)
            lane.put(changes)

    @property
    def busy(self) -> bool:
        """True while some hook still has change sets to run."""
        return any(lane.busy for lane in self._lanes.values())

    async def flush(self, timeout_s: float = FLUSH_WAIT_S) -> bool:
        """Wait until every change set handed over so far has been run by every hook, at
        most ``timeout_s``; False (and a warning) if some had not, and those are dropped."""
        tasks = {lane.task for lane in self._lanes.values() if lane.busy and lane.task}
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        late = [lane for lane in self._lanes.values() if lane.busy]
        if not late:
            return True
        log.warning(
            "after-commit work still unfinished after %g s on close (%s); dropped: the "
            "database holds the jobs and the reconciler publishes any left unpublished",
            timeout_s,
            ", ".join(repr(lane.hook) for lane in late),
        )
        for lane in late:
            lane.drop()
        return False


class _Lane:
    """One hook's queue of committed change sets, run in order by one task at a time."""

    def __init__(self, hook: AfterCommit) -> None:
        self.hook = hook
        self.coalesce_s = float(getattr(hook, "coalesce_s", 0.0))
        self.pending = ChangeSet()
        self.task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return bool(self.pending) or (self.task is not None and not self.task.done())

    def put(self, changes: ChangeSet) -> None:
        self.pending.extend(changes)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run(), name=f"after-commit:{self.hook!r}")

    async def _run(self) -> None:
        if self.coalesce_s > 0:
            await asyncio.sleep(self.coalesce_s)
        while self.pending:
            changes, self.pending = self.pending, ChangeSet()
            await run_hooks([self.hook], changes)

    def drop(self) -> None:
        self.pending = ChangeSet()
        if self.task is not None:
            self.task.cancel()
