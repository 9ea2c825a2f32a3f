"""Handing out ``job_events`` in id order without skipping one that commits late.

An event's id is taken from the identity sequence when its row is inserted, but
the row becomes visible only when its transaction commits. Two transactions
that insert 100 and 101 may commit 101 first: a reader that saw 101 and moved
its cursor past it would never see 100. So ids missing below the newest one
read are *gaps*, and nothing above the lowest gap is handed out until the gap
is filled (its transaction committed) or proven empty (it rolled back).

Proof that a gap is empty: the transaction holding a missing id was running when
the read that found the gap ran, in this database. The read also lists the ids of
this database's running transactions (``pg_stat_activity.backend_xid``); once a
later read finds none of them still running and the id still missing, it never
commits. The check is made twice, the second time against the transactions of
the first proof, so a transaction that took its event id an instant before it was
assigned a transaction id is covered too. Only this database's transactions
count: a long one elsewhere on the server does not hold the stream back (the
snapshot's ``xmin``, server-wide, would). A transaction of this database left
open for a long time can; :data:`GAP_GIVE_UP_S` bounds that wait.

Rolled-back inserts are what leave real gaps, and they are rare on the job path.
This module is pure bookkeeping: :mod:`engine.readapi.event_source` does the reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from engine.snapshots.transitions import TransitionEvent

log = logging.getLogger(__name__)

GAP_GIVE_UP_S = 30.0  # seconds after which a gap no read has proven empty is skipped
PROOFS_NEEDED = 2  # reads in a row that must show the gap's writers have finished


@dataclass(slots=True)
class Gap:
    """Ids ``lo..hi`` (inclusive) not seen yet, below ids that were."""

    lo: int
    hi: int
    seen_at: float
    """Monotonic time the gap was first seen."""
    waiting_on: frozenset[int]
    """Transactions that were running: the gap's writer is one of them (or was not
    yet assigned an id: see the second proof)."""
    proofs: int = 0


@dataclass(slots=True)
class EventOrder:
    """What has been read, what is held back, and what may be handed out.

    Args:
        start: every event with an id up to this one counts as handed out already.
        give_up_s: see :data:`GAP_GIVE_UP_S`.
    """

    start: int
    give_up_s: float = GAP_GIVE_UP_S
    settled: int = field(init=False)
    """Every id up to this one has been handed out or proven never to commit."""
    read_upto: int = field(init=False)
    """The highest id read so far."""
    gaps: list[Gap] = field(init=False, default_factory=list)
    held: dict[int, TransitionEvent] = field(init=False, default_factory=dict)
    """Events read above the lowest gap, waiting for it."""
    skipped: int = field(init=False, default=0)
    """Ids given up on after :attr:`give_up_s` without a proof (not rolled back, as far
    as anyone knows): a figure for logs and tests."""

    def __post_init__(self) -> None:
        self.settled = self.start
        self.read_upto = self.start

    def gap_ranges(self) -> tuple[list[int], list[int]]:
        """The gaps as the read statement takes them: lower and upper bounds."""
        return [g.lo for g in self.gaps], [g.hi for g in self.gaps]

    def absorb(
        self, events: list[TransitionEvent], running: frozenset[int], now: float
    ) -> list[TransitionEvent]:
        """Take one read (new events past :attr:`read_upto` and any that filled gaps,
        with the ids of the transactions running at the read) and return what may now
        be handed out, in id order."""
        old_gaps = self.gaps
        fresh: list[Gap] = []
        expected = self.read_upto + 1
        for e in events:
            if e.id <= self.settled or e.id in self.held:
                continue
            self.held[e.id] = e
            if e.id <= self.read_upto:
                old_gaps = _remove(old_gaps, e.id)
            else:
                if e.id > expected:
                    fresh.append(Gap(expected, e.id - 1, now, running))
                expected = e.id + 1
        self.read_upto = max(self.read_upto, expected - 1)

        kept: list[Gap] = []
        for g in old_gaps:
            if not g.waiting_on & running:
                g.proofs += 1
                g.waiting_on = running
            if g.proofs >= PROOFS_NEEDED:
                continue  # rolled back: those ids will never be seen
            if now - g.seen_at > self.give_up_s:
                self.skipped += g.hi - g.lo + 1
                log.warning(
                    "event stream: ids %d..%d still missing after %.0f s; skipped",
                    g.lo,
                    g.hi,
                    self.give_up_s,
                )
                continue
            kept.append(g)
        self.gaps = kept + fresh

        bound = min((g.lo for g in self.gaps), default=self.read_upto + 1) - 1
        if bound <= self.settled:
            return []
        ready = sorted(i for i in self.held if i <= bound)
        self.settled = bound
        return [self.held.pop(i) for i in ready]


def _remove(gaps: list[Gap], event_id: int) -> list[Gap]:
    """``gaps`` without ``event_id`` (a gap split in two keeps its age and proofs)."""
    out: list[Gap] = []
    for g in gaps:
        if not g.lo <= event_id <= g.hi:
            out.append(g)
            continue
        if g.lo < event_id:
            out.append(Gap(g.lo, event_id - 1, g.seen_at, g.waiting_on, g.proofs))
        if event_id < g.hi:
            out.append(Gap(event_id + 1, g.hi, g.seen_at, g.waiting_on, g.proofs))
    return out
