"""Named errors.

Everything a user can cause derives from :class:`UserError`: the CLI and the
console show its message as one line and never a traceback. Anything else that
escapes is a bug in this code and deserves the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SHOWN_CHARS = 60  # how much of a refused value an error message quotes


def shown(value: Any) -> str:
    """``repr(value)`` cut to a readable length, for quoting a refused value in a message.

    Never raises: an int too long for ``repr`` (over 4,300 digits) would otherwise
    turn a one-line refusal into a ValueError traceback.
    """
    try:
        text = repr(value)
    except ValueError:
        return "a number too long to show"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class UserError(EngineError):
    """A mistake in what was asked for; the message says what was wrong."""


class ConfigError(UserError):
    """Configuration that cannot be used (bad file, unknown key, bad value)."""


class ValidationError(UserError):
    """A job or workflow specification that cannot be accepted; nothing was written."""


class CycleError(ValidationError):
    """A workflow whose dependencies loop back on themselves."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join([*self.cycle, self.cycle[0]]))


class JobNotFound(UserError):
    """A job id that names no job."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"job {shown(job_id)} does not exist")


class WorkflowNotFound(UserError):
    """A workflow id that names no workflow with jobs."""

    def __init__(self, workflow_id: int) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"workflow {shown(workflow_id)} does not exist")


class IllegalTransition(UserError):
    """A state change the state machine does not allow (``engine.states``)."""

    def __init__(self, job_id: int, from_state: str, to_state: str, hint: str = "") -> None:
        self.job_id = job_id
        self.from_state = from_state
        self.to_state = to_state
        message = f"job {job_id} is {from_state}; it cannot become {to_state}"
        super().__init__(f"{message} ({hint})" if hint else message)


class ServiceUnavailable(EngineError):
    """PostgreSQL, RabbitMQ or Redis could not be reached.

    The message names the service and its URL with the password masked, so it
    is safe to print anywhere.
    """

    def __init__(self, service: str, masked_url: str, reason: str) -> None:
        self.service = service
        self.masked_url = masked_url
        self.reason = reason
        super().__init__(f"{service} is unavailable at {masked_url}: {reason}")


class EmptyFailureGroup(UserError):
    """A failure group with no FAILED job in it (now): an unknown fingerprint, or one whose
    jobs were all retried, pruned or cancelled since the group was shown."""

    def __init__(self, fingerprint: object) -> None:
        self.fingerprint = fingerprint
        super().__init__(f"no failed jobs left in failure group {shown(fingerprint)}")
