"""Which events a client asked for: ``queue=``, ``job=``, ``workflow=``.

Each parameter may be repeated. Values of one parameter are alternatives (queue
``a`` or ``b``); different parameters narrow each other (queue ``a`` and
workflow 7). No parameter means every event. Values are compared, never
interpreted: a queue name is just a string here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from engine.snapshots.transitions import TransitionEvent

MAX_VALUES = 1000  # values of one filter parameter at most


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The sets a client's events must fall in (an empty set: no condition)."""

    queues: frozenset[str] = frozenset()
    jobs: frozenset[int] = frozenset()
    workflows: frozenset[int] = frozenset()
    tenant: str | None = None
    """A tenant-bound token's tenant: its events only, whatever else was asked."""

    @classmethod
    def of(
        cls,
        queues: Iterable[str] = (),
        jobs: Iterable[int] = (),
        workflows: Iterable[int] = (),
        tenant: str | None = None,
    ) -> EventFilter:
        """A filter from the request's repeated parameters (and the token's tenant)."""
        return cls(frozenset(queues), frozenset(jobs), frozenset(workflows), tenant)

    @property
    def everything(self) -> bool:
        """True when no condition is set."""
        return not (self.queues or self.jobs or self.workflows or self.tenant)

    def matches(self, e: TransitionEvent) -> bool:
        """Whether the client wants ``e``."""
        return (
            (not self.queues or e.queue in self.queues)
            and (not self.jobs or e.job_id in self.jobs)
            and (not self.workflows or e.workflow_id in self.workflows)
            and (self.tenant is None or e.tenant == self.tenant)
        )


def token_tenant(connection: HTTPConnection) -> str | None:
    """The tenant the connection's token is bound to (None: unbound, or no auth); the
    app's token check leaves the token on the connection's state."""
    token = getattr(connection.state, "token", None)
    tenant: str | None = getattr(token, "tenant", None)
    return tenant
