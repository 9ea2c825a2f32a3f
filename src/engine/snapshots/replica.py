"""Where the console's and the read API's queries go: the read replica or the primary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

USING_REPLICA = "replica"
USING_PRIMARY = "primary"


@dataclass(frozen=True, slots=True)
class ReadReplicaStatus:
    """The read replica's state at the last check (``status --json``: ``read_replica``)."""

    url_host: str
    """``host:port`` of ``read_database_url`` (never its password)."""
    lag_s: float | None
    """Seconds the replica trails the primary; None when it could not be measured."""
    using: str
    """``replica`` or ``primary``: where reads go now."""
    reason: str
    """Why, in a few words (the bound it is within, or what is wrong with it)."""

    @property
    def on_replica(self) -> bool:
        """True while reads go to the replica."""
        return self.using == USING_REPLICA

    def to_json(self) -> dict[str, Any]:
        """The ``read_replica`` object of ``status --json``."""
        return {
            "url_host": self.url_host,
            "lag_s": None if self.lag_s is None else round(self.lag_s, 3),
            "using": self.using,
            "reason": self.reason,
        }
