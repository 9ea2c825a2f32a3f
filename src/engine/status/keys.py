"""Every Redis key the status cache uses, derived from the namespace.

Installations and test runs sharing one Redis differ only in their namespace,
so nothing here may produce a key outside ``{namespace}:``.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_FIELD = "~base"
"""Field of the counts hash saying the counters were written whole from PostgreSQL.

It lives in the same hash as the counters, so whatever removes the counters
(flush, eviction) removes it too; increments landing on a hash without it
never make a reader trust partial counts.
"""


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one namespace."""

    namespace: str

    def job(self, job_id: int) -> str:
        """Hash: state, queue, type, attempt, version, epoch, worker, at of one job."""
        return f"{self.namespace}:job:{job_id}"

    @property
    def counts(self) -> str:
        """Hash: ``{queue}:{state}`` -> jobs, plus :data:`BASE_FIELD` when trustworthy."""
        return f"{self.namespace}:counts"

    @property
    def source(self) -> str:
        """String: which database (and incarnation of its count tables) the cache is about."""
        return f"{self.namespace}:source"

    @property
    def epoch(self) -> str:
        """String: the token job hashes must carry to be believed (rotated after an outage)."""
        return f"{self.namespace}:epoch"

    @property
    def throughput(self) -> str:
        """Hash: ring of the last hour, slot (second mod 3600) -> ``"second completed failed"``."""
        return f"{self.namespace}:throughput"

    @property
    def recent_events(self) -> str:
        """List: the newest events (encoded), newest first, capped."""
        return f"{self.namespace}:events:recent"

    @property
    def events_channel(self) -> str:
        """Pub/sub channel of compact event batches for live views."""
        return f"{self.namespace}:events"

    def worker(self, worker_id: str) -> str:
        """String (JSON) with a TTL: a worker's last beat; gone when it stops beating."""
        return f"{self.namespace}:worker:{worker_id}"

    def worker_memory(self, worker_id: str) -> str:
        """List: ``"unix_seconds rss_bytes"`` samples of a worker, oldest first, capped."""
        return f"{self.namespace}:worker:{worker_id}:mem"


def count_field(queue: str, state: str) -> str:
    """The counts-hash field of one (queue, state); queue names never hold ``:``."""
    return f"{queue}:{state}"


def parse_count_field(name: str) -> tuple[str, str] | None:
    """(queue, state) of a counts-hash field, or None for the marker."""
    if name == BASE_FIELD:
        return None
    queue, sep, state = name.rpartition(":")
    return (queue, state) if sep else None
