"""Driver failures as errors a person can act on, shared by both database handles.

An unreachable server becomes :class:`~engine.errors.ServiceUnavailable` with the
URL masked; a database that was never created or migrated says to run
``queueconsole migrate``. Imports no SQLAlchemy engine, so a worker
(:mod:`engine.db.driver`) can use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg

from engine.config import Settings
from engine.errors import ServiceUnavailable, UserError

T = TypeVar("T")
log = logging.getLogger(__name__)

SERVICE = "PostgreSQL"
CONNECT_TIMEOUT_S = 5.0  # seconds; a dead server is reported, not waited on for a minute
TRANSIENT_RETRIES = 5  # deadlock / serialization failures retried before giving up
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
INTEGRITY_VIOLATION_CLASS = "23"  # SQLSTATE class: unique, foreign key, check, not null

_AUTH_ERRORS = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)
_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
)


def translate(
    exc: BaseException,
    settings: Settings,
    masked_url: str,
    down: tuple[type[BaseException], ...] = (),
) -> Exception:
    """The error to show for a driver failure; user-facing where the cause is setup.

    ``exc`` may wrap the driver's error (``orig``, ``__cause__``), as SQLAlchemy's
    do; ``down`` adds the wrapper types that also mean the server is unreachable.
    """
    orig = getattr(exc, "orig", None) or exc
    cause = getattr(orig, "__cause__", None)
    for candidate in (orig, cause):
        if isinstance(candidate, asyncpg.InvalidCatalogNameError):
            return UserError(
                f"database {settings.database_name!r} does not exist at "
                f"{masked_url}; run `queueconsole migrate` to create it"
            )
        if isinstance(candidate, asyncpg.UndefinedTableError):
            return UserError(
                f"the database at {masked_url} has no queueconsole tables; "
                "run `queueconsole migrate`"
            )
        if isinstance(candidate, _AUTH_ERRORS):
            return ServiceUnavailable(SERVICE, masked_url, _reason(candidate, settings))
    unreachable = _DOWN_ERRORS + down
    if isinstance(exc, unreachable) or isinstance(orig, unreachable):
        return ServiceUnavailable(SERVICE, masked_url, _reason(orig, settings))
    if isinstance(exc, Exception):
        return exc
    return RuntimeError(str(exc))


def _reason(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return settings.redact(message)


@asynccontextmanager
async def deadline(timeout_s: float | None, masked_url: str) -> AsyncIterator[None]:
    """Bound one operation by ``timeout_s``; past it, PostgreSQL is reported
    unavailable, and where the operation hung is logged."""
    if timeout_s is None:
        yield
        return
    scope = asyncio.timeout(timeout_s)
    try:
        async with scope:
            yield
    except TimeoutError as exc:
        if not scope.expired():
            raise
        reason = f"no answer within {timeout_s:g} s"
        log.warning("PostgreSQL operation abandoned: %s", reason, exc_info=True)
        raise ServiceUnavailable(SERVICE, masked_url, reason) from exc


def sqlstate(exc: BaseException) -> str | None:
    """PostgreSQL's error code, from asyncpg's error or the one SQLAlchemy wraps."""
    orig = getattr(exc, "orig", None) or exc
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_integrity_violation(exc: BaseException) -> bool:
    """Whether PostgreSQL refused a write for a constraint (SQLSTATE class 23), read the
    same from asyncpg's error on a driver connection and from the SQLAlchemy error that
    wraps it on the engine's, without importing SQLAlchemy to tell."""
    return (sqlstate(exc) or "").startswith(INTEGRITY_VIOLATION_CLASS)


async def retry_transient(
    attempt: Callable[[], Awaitable[T]],
    errors: tuple[type[BaseException], ...],
    fail: Callable[[BaseException], Exception],
) -> T:
    """Run ``attempt``, again when PostgreSQL aborted it for a deadlock or a
    serialization failure (up to :data:`TRANSIENT_RETRIES` times); any other of
    ``errors`` is raised as ``fail(exc)``.

    Our multi-row writers lock rows in id order, so deadlocks should not happen;
    this is the belt to those braces, never a reason to skip them.
    """
    for n in range(TRANSIENT_RETRIES):
        try:
            return await attempt()
        except errors as exc:
            if sqlstate(exc) in TRANSIENT_SQLSTATES and n < TRANSIENT_RETRIES - 1:
                await asyncio.sleep(0.01 * (n + 1))
                continue
            raise fail(exc) from exc
    raise AssertionError("unreachable")
