"""A circuit breaker, so a dead Redis costs the job path nothing.

Without it every commit would wait for a connect timeout. After one failure
the breaker opens and calls are skipped at once; after ``retry_after_s`` one
caller is let through to try again (half-open). Its success closes the
breaker; its failure keeps it open for another period.
"""

from __future__ import annotations

import asyncio
import time

RETRY_AFTER_S = 2.0  # seconds an open breaker waits before letting one trial call through


class CircuitBreaker:
    """Closed, open or half-open; not thread-safe (one event loop owns it).

    Callers that must not lose a call use ``allow() or await trial_outcome()``
    (wait for a trial under way); callers that can lose one use ``allow()``.

    Args:
        retry_after_s: seconds to skip calls after a failure before trying again.
    """

    def __init__(self, retry_after_s: float = RETRY_AFTER_S) -> None:
        if retry_after_s < 0:
            raise ValueError("retry_after_s must not be negative")
        self.retry_after_s = retry_after_s
        self.last_error: str | None = None
        self.attempts = 0
        """Calls let through, ever: a test can tell a skipped call from a tried one."""
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self._trial_settled: asyncio.Event | None = None

    @property
    def is_open(self) -> bool:
        """True after a failure, until a call succeeds again."""
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether to try the call now; False means skip it without waiting."""
        if self._opened_at is None:
            self.attempts += 1
            return True
        if self._trial_in_flight:
            return False
        if time.monotonic() - self._opened_at < self.retry_after_s:
            return False
        self._trial_in_flight = True
        self._trial_settled = asyncio.Event()
        self.attempts += 1
        return True

    @property
    def trial_in_flight(self) -> bool:
        """True while one half-open trial call is under way."""
        return self._trial_in_flight

    async def trial_outcome(self) -> bool:
        """Wait for the trial under way (if any) to end; True if the breaker is closed.

        Calls that arrive during a trial wait for it rather than being skipped: a
        call skipped just as Redis comes back would be a write lost for nothing.
        """
        if self._trial_in_flight and self._trial_settled is not None:
            await self._trial_settled.wait()
        return not self.is_open

    def _settle(self) -> None:
        self._trial_in_flight = False
        if self._trial_settled is not None:
            self._trial_settled.set()
            self._trial_settled = None

    def success(self) -> None:
        """The call worked: close the breaker."""
        self._opened_at = None
        self.last_error = None
        self._settle()

    def failure(self, error: BaseException | str) -> None:
        """The call failed: open (or keep open) the breaker from now."""
        self._opened_at = time.monotonic()
        self.failures += 1
        self.last_error = error if isinstance(error, str) else _describe(error)
        self._settle()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__
