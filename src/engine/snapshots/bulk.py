"""What a bulk retry or cancel would do, and what it did (``Client.preview_bulk``, ``bulk``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.snapshots.jobs import JobRef

BulkAction = Literal["retry", "cancel"]


@dataclass(frozen=True, slots=True)
class BulkPreview:
    """A bulk action's reach, read just now, for a confirmation that repeats the count."""

    action: BulkAction
    count: int
    """Jobs it would act on: those selected whose state allows the action."""
    affected_count: int
    """Dependents downstream it would block (cancel: PENDING ones) or may release
    (retry: BLOCKED ones, each re-checked then)."""
    affected: tuple[JobRef, ...]
    """The first few of them, by id."""
    affected_exact: bool
    """False when the selection was too large to follow every job's dependents: then
    ``affected_count`` counts those of the first :data:`PREVIEW_ROOTS` jobs only."""


@dataclass(frozen=True, slots=True)
class BulkDone:
    """What a bulk action did."""

    action: BulkAction
    done: int
    """Jobs retried or cancelled."""
    skipped: int
    """Selected jobs whose state no longer allowed it when their turn came; left as they are."""
    dependents: int
    """Dependents released (retry) or blocked (cancel) on the way."""
    batches: int
    """Transactions it took, each committed and published before the next began."""


PREVIEW_ROOTS = 5000
"""Jobs of a selection whose dependents a preview follows (the count itself is exact)."""
