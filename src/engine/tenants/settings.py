"""Tenant settings as operators change them: add, list, set, remove.

A tenant's limits and weight live in the ``tenants`` table, so every engine
and worker on every host obeys the same ones, and a change applies to the
next submission or claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.db.connection import Connection
from engine.errors import UserError, ValidationError
from engine.queries.tenants import (
    TENANT_DELETE,
    TENANT_INSERT,
    TENANT_LIST,
    TENANT_LIVE_COUNT,
    TENANT_LOCK,
    TENANT_QUEUES_DELETE,
    TENANT_UPDATE,
)
from engine.queues.limits import parse_limit
from engine.specs import DEFAULT_TENANT, check_tenant_name

MAX_WEIGHT = 1_000_000.0  # a larger weight starves nobody faster; a typo more likely
UNSET: Any = object()
"""A setting ``set_tenant`` leaves as it is (None clears a limit)."""


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """One tenant's settings and its live jobs."""

    name: str
    max_waiting: int | None
    """Jobs that may wait (pending, queued, retrying, blocked) at most; None: no limit."""
    max_running: int | None
    """Jobs that may run at once on every worker of every host; None: no limit."""
    weight: float
    """Share of a queue it shares with other tenants, relative to theirs."""
    waiting: int = 0
    running: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``queueconsole tenant list --json``."""
        return {
            "name": self.name,
            "max_waiting": self.max_waiting,
            "max_running": self.max_running,
            "weight": self.weight,
            "waiting": self.waiting,
            "running": self.running,
        }


class UnknownTenantName(UserError):
    """An operator named a tenant that does not exist."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"tenant {name!r} does not exist (`queueconsole tenant list` shows them)")


def _name(name: Any) -> str:
    try:
        return check_tenant_name(name, "tenant name")
    except ValidationError as exc:
        raise UserError(str(exc).removeprefix("tenant name: ")) from None


def parse_tenant_limit(value: str | int | None, what: str) -> int | None:
    """``none`` (or None) clears the limit; otherwise a whole number from 1 up."""
    return parse_limit(value, what, hint=None)


def parse_weight(value: str | float | int) -> float:
    """A positive number of at most :data:`MAX_WEIGHT`."""
    if isinstance(value, bool):
        raise UserError(f"weight {value!r} is not a number")
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise UserError(f"weight {value!r} is not a number; give a positive number") from None
    if not math.isfinite(weight) or weight <= 0:
        raise UserError(f"weight {value!r} must be a positive number")
    if weight > MAX_WEIGHT:
        raise UserError(f"weight {weight:g} is larger than {MAX_WEIGHT:,.0f}")
    return weight


def _info(row: Any, waiting: int = 0, running: int = 0) -> TenantInfo:
    return TenantInfo(
        row.name, row.max_waiting, row.max_running, float(row.weight), waiting, running
    )


async def list_tenants(conn: Connection) -> list[TenantInfo]:
    """Every tenant by name, with its settings and live jobs."""
    return [_info(r, int(r.waiting), int(r.running)) for r in await conn.execute(TENANT_LIST)]


async def add_tenant(
    conn: Connection,
    name: str,
    *,
    max_waiting: int | str | None = None,
    max_running: int | str | None = None,
    weight: float | str = 1.0,
) -> TenantInfo:
    """A new tenant; refused (nothing written) if the name is taken or a value is bad."""
    name = _name(name)
    row = (
        await conn.execute(
            TENANT_INSERT,
            {
                "name": name,
                "max_waiting": parse_tenant_limit(max_waiting, "max-waiting"),
                "max_running": parse_tenant_limit(max_running, "max-running"),
                "weight": parse_weight(weight),
            },
        )
    ).one_or_none()
    if row is None:
        raise UserError(f"tenant {name!r} already exists; change it with `queueconsole tenant set`")
    return _info(row)


async def set_tenant(
    conn: Connection,
    name: str,
    *,
    max_waiting: int | str | None = UNSET,
    max_running: int | str | None = UNSET,
    weight: float | str = UNSET,
) -> TenantInfo:
    """Change the settings given (the others stay); lowering a limit removes no job."""
    name = _name(name)
    row = (await conn.execute(TENANT_LOCK, {"name": name})).one_or_none()
    if row is None:
        raise UnknownTenantName(name)
    updated = (
        await conn.execute(
            TENANT_UPDATE,
            {
                "name": name,
                "max_waiting": row.max_waiting
                if max_waiting is UNSET
                else parse_tenant_limit(max_waiting, "max-waiting"),
                "max_running": row.max_running
                if max_running is UNSET
                else parse_tenant_limit(max_running, "max-running"),
                "weight": float(row.weight) if weight is UNSET else parse_weight(weight),
            },
        )
    ).one()
    return _info(updated)


async def remove_tenant(conn: Connection, name: str) -> None:
    """Remove a tenant with no live job (its finished jobs keep its name)."""
    name = _name(name)
    if name == DEFAULT_TENANT:
        raise UserError(f"tenant {DEFAULT_TENANT!r} cannot be removed: jobs without one use it")
    row = (await conn.execute(TENANT_LOCK, {"name": name})).one_or_none()
    if row is None:
        raise UnknownTenantName(name)
    live = int(await conn.scalar(TENANT_LIVE_COUNT, {"name": name}))
    if live:
        raise UserError(
            f"tenant {name!r} has {live:,} live job{'s' if live != 1 else ''} "
            "(waiting or running); cancel them or let them finish, then remove it"
        )
    await conn.execute(TENANT_QUEUES_DELETE, {"name": name})
    await conn.execute(TENANT_DELETE, {"name": name})
