"""The compact form of a state change carried by Redis (pub/sub and the recent list).

Short, stable JSON keys: live views decode many of these per second, and a
subscriber written in another language can read them without this module.
"""

from __future__ import annotations

import json
from typing import Any

from engine.snapshots import EventView, epoch_to_datetime
from engine.states import State
from engine.store.changes import Transition

REASON_CHARS = 200  # an event's reason is cut here; the full text is in job_events


def encode(t: Transition, at: float) -> dict[str, Any]:
    """A transition as a JSON-ready dict; ``at`` is Unix seconds.

    ``wait_ms`` (queued to started) comes with a claim, ``run_ms`` (started to
    finished) with a completion or failure, when the transition carries the times.
    """
    doc: dict[str, Any] = {
        "job": t.job_id,
        "queue": t.queue,
        "type": t.type,
        "from": t.from_state.value if t.from_state else None,
        "to": t.to_state.value,
        "attempt": t.attempt,
        "version": t.version,
        "at": round(at, 3),
    }
    if t.worker_id:
        doc["worker"] = t.worker_id
    if t.reason:
        doc["reason"] = t.reason[:REASON_CHARS]
    if t.to_state is State.RUNNING and t.queued_at and t.started_at:
        doc["wait_ms"] = round((t.started_at - t.queued_at).total_seconds() * 1000.0, 3)
    if t.from_state is State.RUNNING and t.started_at and t.finished_at:
        doc["run_ms"] = round((t.finished_at - t.started_at).total_seconds() * 1000.0, 3)
    return doc


def decode(doc: dict[str, Any]) -> EventView | None:
    """An encoded event back as a snapshot; None for anything malformed."""
    try:
        return EventView(
            at=epoch_to_datetime(float(doc["at"])),
            job_id=int(doc["job"]),
            queue=str(doc["queue"]),
            type=str(doc["type"]),
            from_state=State(doc["from"]) if doc.get("from") else None,
            to_state=State(doc["to"]),
            attempt=int(doc["attempt"]),
            worker_id=doc.get("worker"),
            reason=doc.get("reason"),
            version=int(doc["version"]) if doc.get("version") is not None else None,
            wait_ms=float(doc["wait_ms"]) if doc.get("wait_ms") is not None else None,
            run_ms=float(doc["run_ms"]) if doc.get("run_ms") is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def loads(message: str | bytes) -> list[EventView]:
    """Decode one pub/sub message (a JSON array, or one object); junk decodes to nothing."""
    try:
        data = json.loads(message)
    except (ValueError, TypeError):
        return []
    items = data if isinstance(data, list) else [data]
    return [e for e in (decode(d) for d in items if isinstance(d, dict)) if e is not None]
