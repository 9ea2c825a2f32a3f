"""The queueconsole job-queue engine.

Importable and runnable without the console: nothing in this package imports
``textual``, ``queueconsole`` or ``localservices`` (``tests/engine/test_import_hygiene.py``
proves it), so the same engine runs headless on machines with no terminal.

``Client`` is loaded on first use: a worker process imports this package but
never needs the client's modules (submission, operations, cron).
"""

from typing import TYPE_CHECKING, Any

from engine.config import Settings, load_settings
from engine.errors import (
    CycleError,
    EngineError,
    IllegalTransition,
    JobNotFound,
    ServiceUnavailable,
    UserError,
    ValidationError,
)
from engine.priority import Priority
from engine.specs import JobSpec
from engine.states import State

if TYPE_CHECKING:
    from engine.client import Client

__all__ = [
    "Client",
    "CycleError",
    "EngineError",
    "IllegalTransition",
    "JobNotFound",
    "JobSpec",
    "Priority",
    "ServiceUnavailable",
    "Settings",
    "State",
    "UserError",
    "ValidationError",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from engine.client import Client

        return Client
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
