"""``queueconsole doctor``: check what the design depends on and say what to change.

Each check is a named :class:`CheckResult` (ok, warn or fail, with advice).
:func:`diagnose` runs them all, the three services at once; ``quick=True``
leaves out what costs more than a round trip (``rabbitmqctl`` boots an Erlang
VM; the migrations check imports Alembic and reads every migration script),
for ``queueconsole status``'s one-line summary.
"""

from __future__ import annotations

import asyncio

from engine.config import Settings
from engine.db.database import Database
from engine.doctor.postgres import Capacity, check_postgres
from engine.doctor.rabbitmq import check_rabbitmq
from engine.doctor.redis import check_redis
from engine.doctor.report import EXIT_CODES, CheckResult, CheckStatus, DoctorReport

SERVICE_CHECKS = frozenset({"postgresql", "rabbitmq", "redis"})
"""The checks that only say whether a service answers (``status`` shows that already)."""


async def diagnose(
    settings: Settings,
    capacity: Capacity | None = None,
    *,
    quick: bool = False,
    db: Database | None = None,
) -> DoctorReport:
    """Every check, PostgreSQL's first, then RabbitMQ's, then Redis's.

    A check that needs a service is left out when the service does not answer
    (its own check has already failed or warned). Never raises for a service
    problem: that is what the report is for. ``db``: a database handle to borrow
    (a :class:`~engine.readapi.reader.StatusReader`'s) instead of opening one.
    """
    pg, mq, rd = await asyncio.gather(
        check_postgres(settings, capacity or Capacity(), schema=not quick, db=db),
        check_rabbitmq(settings, consumer_timeout=not quick),
        check_redis(settings),
    )
    return DoctorReport((*pg, *mq, *rd))


__all__ = [
    "EXIT_CODES",
    "SERVICE_CHECKS",
    "Capacity",
    "CheckResult",
    "CheckStatus",
    "DoctorReport",
    "diagnose",
]
