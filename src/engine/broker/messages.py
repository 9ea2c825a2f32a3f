"""The work message: ``{"id": job_id, "attempt": attempt}`` and nothing else.

A message only says *which* job and *which* attempt; everything else lives in
PostgreSQL, so a duplicate or stale copy is harmless (the claim is fenced by
the attempt). Decoding never raises: whatever arrives that is not a valid work
message becomes :class:`Garbage`, which a worker acks and reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

CONTENT_TYPE = "application/json"
EXCERPT_CHARS = 120  # enough of a bad body to recognise it in a log line
PERSISTENT: Final = 2  # AMQP delivery_mode: written to disk by durable queues
MAX_JOB_ID = 2**63 - 1  # jobs.id is a bigint
MAX_ATTEMPT = 2**31 - 1  # jobs.attempts is an integer


def work_body(job_id: int, attempt: int) -> bytes:
    """The compact JSON body; formatted directly because it is on the hot path."""
    return b'{"id":%d,"attempt":%d}' % (job_id, attempt)


def message_id(job_id: int, attempt: int) -> str:
    """The AMQP message id: equal for every copy of one attempt's message."""
    return f"{job_id}:{attempt}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A work message received from ``queue`` (the engine queue name).

    ``delivery_tag`` is unique for the consumer's whole life, across
    reconnects; pass it back to :meth:`Consumer.ack`.
    """

    job_id: int
    attempt: int
    delivery_tag: int
    redelivered: bool
    queue: str


@dataclass(frozen=True, slots=True)
class Garbage:
    """A message on a work queue that is not a work message; ack it and move on."""

    delivery_tag: int
    queue: str
    reason: str
    excerpt: str


def decode(body: bytes, delivery_tag: int, redelivered: bool, queue: str) -> Delivery | Garbage:
    """A :class:`Delivery` for a valid body, otherwise :class:`Garbage` saying why."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        return _garbage(body, delivery_tag, queue, f"not JSON: {exc}")
    except RecursionError:
        return _garbage(body, delivery_tag, queue, "not JSON: nested too deeply")
    if not isinstance(data, dict):
        return _garbage(body, delivery_tag, queue, f"a JSON {type(data).__name__}, not an object")
    job_id = data.get("id")
    attempt = data.get("attempt")
    # Bounded by the columns' types: a number beyond them made the claim fail in the
    # driver, and the batch went back to the queue to fail again, forever.
    if type(job_id) is not int or not 1 <= job_id <= MAX_JOB_ID:
        return _garbage(body, delivery_tag, queue, '"id" must be a positive 64-bit integer')
    if type(attempt) is not int or not 0 <= attempt <= MAX_ATTEMPT:
        return _garbage(
            body, delivery_tag, queue, '"attempt" must be a non-negative 32-bit integer'
        )
    return Delivery(job_id, attempt, delivery_tag, redelivered, queue)


def _garbage(body: bytes, delivery_tag: int, queue: str, reason: str) -> Garbage:
    excerpt = body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
    return Garbage(delivery_tag, queue, reason, excerpt)
