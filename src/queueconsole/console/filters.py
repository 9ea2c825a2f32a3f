"""The Jobs pane's filter language: ``state:failed queue:mail tenant:acme type:resize text``.

Pure functions, so the parsing is tested without a terminal. Anything that is
not a ``key:value`` token is free text, matched by the read API against type,
error message, idempotency key and id.
"""

from __future__ import annotations

from engine.errors import UserError
from engine.snapshots import JobFilter
from engine.states import State

KEYS = ("state", "queue", "type", "workflow", "tenant")


class FilterError(UserError):
    """A filter the Jobs pane cannot apply; the message says which token."""


def parse_filter(text: str) -> JobFilter:
    """A :class:`JobFilter` from what was typed in the filter bar."""
    state: State | None = None
    workflow_id: int | None = None
    plain: dict[str, str] = {}  # queue, type, tenant
    words: list[str] = []
    for token in text.split():
        key, sep, value = token.partition(":")
        key = key.lower()
        if not sep or key not in KEYS:
            words.append(token)
            continue
        if not value:
            raise FilterError(f"{key}: needs a value")
        if key == "state":
            try:
                state = State(value.lower())
            except ValueError:
                names = ", ".join(s.value for s in State)
                raise FilterError(f"unknown state {value!r}; use one of {names}") from None
        elif key == "workflow":
            if not (value.isascii() and value.isdigit()):  # "²".isdigit(), but int() refuses
                raise FilterError(f"workflow:{value} is not a workflow id")
            workflow_id = int(value)
        else:
            plain[key] = value
    return JobFilter(
        state=state,
        queue=plain.get("queue"),
        type=plain.get("type"),
        text=" ".join(words) or None,
        workflow_id=workflow_id,
        tenant=plain.get("tenant"),
    )


def describe_filter(flt: JobFilter) -> str:
    """The filter written back in the language :func:`parse_filter` reads."""
    parts = []
    if flt.state is not None:
        parts.append(f"state:{flt.state.value}")
    if flt.queue is not None:
        parts.append(f"queue:{flt.queue}")
    if flt.type is not None:
        parts.append(f"type:{flt.type}")
    if flt.tenant is not None:
        parts.append(f"tenant:{flt.tenant}")
    if flt.workflow_id is not None:
        parts.append(f"workflow:{flt.workflow_id}")
    if flt.text:
        parts.append(flt.text)
    return " ".join(parts)
