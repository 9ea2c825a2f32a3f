"""The periodic services of the operations features, as an engine runtime starts them."""

from __future__ import annotations

from collections.abc import Sequence

from engine.config import Settings
from engine.db.database import Database
from engine.hooks import AfterCommit
from engine.services.base import PeriodicService
from engine.services.expiry import ExpiryService
from engine.services.retention import RetentionService
from engine.services.scheduler import ScheduleService


def operation_services(
    settings: Settings, db: Database, hooks: Sequence[AfterCommit] = ()
) -> list[PeriodicService]:
    """Scheduler and TTL expiry; retention too when ``retention_age`` is set.

    Every engine may run all of them: each is safe with several engines at once.
    """
    services: list[PeriodicService] = [
        ScheduleService(settings, db, hooks),
        ExpiryService(settings, db, hooks),
    ]
    retention = RetentionService(settings, db, hooks)
    if retention.enabled:
        services.append(retention)
    return services
