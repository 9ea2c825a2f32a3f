"""The queueconsole job-queue engine.

Importable and runnable without the console: nothing in this package imports
``textual`` or ``queueconsole`` (``tests/engine/test_import_hygiene.py``
proves it), so the same engine runs headless on machines with no terminal.
"""

from engine.client import Client
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
