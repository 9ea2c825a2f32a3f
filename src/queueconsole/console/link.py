"""The console's one link to the engine: a protocol and its two implementations.

:class:`EngineLink` names everything the console asks of the engine. Two
classes provide it:

- :class:`EmbeddedLink` wraps an :class:`~engine.runtime.engine.Engine` the
  console runs itself (dispatcher, reconciler, a supervisor with local
  workers) and drains on quit.
- :class:`AttachedLink` watches an engine running elsewhere: a
  :class:`~engine.client.Client` for reads and job actions, and the broker's
  :class:`~engine.broker.control.ControlBus` for scale and recycle. Without a
  control bus it is the ``client`` mode (reads and job actions only), which
  tests use, optionally with a local :class:`Supervisor` to drive.

Every engine part is imported here directly: they ship in one distribution,
so none of them can be missing, and a renamed class is an import error rather
than a feature that quietly disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from engine.broker.control import ControlBus
from engine.client import Client
from engine.config import Settings
from engine.errors import UserError
from engine.readapi.reader import StatusReader
from engine.runtime.budgets import BudgetRequester, EngineBudget
from engine.runtime.engine import Engine, EngineOptions
from engine.runtime.scaling import SCALE_WAIT_S, ScaleRequester
from engine.runtime.supervisor import ScaleRefused
from engine.runtime.wiring import open_client
from engine.snapshots import Dashboard, ServiceHealth, SupervisorSnapshot
from queueconsole.console import failure_groups
from queueconsole.console.health import HealthWatch, Probe
from queueconsole.console.model import FailuresView

log = logging.getLogger(__name__)

Mode = Literal["embedded", "attached", "client"]

DEFAULT_WORKERS = 2  # local workers on the default queue when --workers is not given
BUDGET_EVERY_S = 10.0  # seconds an attached console's answer from the engines' budgets lasts


class UnavailableFeature(UserError):
    """An action this link cannot carry out (e.g. scaling with no supervisor to ask)."""


class NoEngineAnswered(UserError):
    """A scale request went out over the broker and no engine answered it in time."""


class Supervisor(Protocol):
    """What the console drives of a supervisor (:class:`engine.runtime.supervisor.Supervisor`)."""

    async def scale(self, queue: str, workers: int) -> int:
        """Run ``workers`` processes on ``queue``; returns the new target."""
        ...

    async def recycle(self, worker_id: str) -> bool:
        """Replace one worker after its current job; False if it is not this supervisor's."""
        ...

    def snapshot(self) -> SupervisorSnapshot:
        """Its workers, per-queue targets and memory budget, now."""
        ...


class EngineLink(Protocol):
    """Everything the console asks of the engine."""

    settings: Settings
    mode: Mode
    started: bool
    """False until :meth:`start` has brought the embedded engine up (True otherwise)."""

    @property
    def client(self) -> Client:
        """Reads and job actions (retry, cancel, previews, pause and resume)."""
        ...

    @property
    def can_scale(self) -> bool:
        """Whether scale and recycle have somewhere to go."""
        ...

    async def start(self) -> None:
        """Start what this link runs (raises if a service is down)."""
        ...

    async def stop(self) -> None:
        """Drain what this link runs, then release its connections."""
        ...

    async def health(self) -> tuple[ServiceHealth, ...]:
        """Each service's state and probe latency; never raises."""
        ...

    def mark_down(self, name: str, reason: str) -> ServiceHealth:
        """Record that a read from service ``name`` just failed."""
        ...

    def masked_url(self, name: str) -> str:
        """Where service ``name`` is, with any password masked."""
        ...

    async def dashboard(self) -> Dashboard | None:
        """The engine's dashboard snapshot (None when this link does not read it)."""
        ...

    async def workers(self) -> SupervisorSnapshot | None:
        """The local supervisor's snapshot (None without one)."""
        ...

    async def scale(self, queue: str, workers: int, *, host: str | None = None) -> None:
        """Ask for ``workers`` processes on ``queue`` (on ``host``'s engines only if given)."""
        ...

    async def recycle(self, worker_id: str) -> None:
        """Replace one worker after its current job."""
        ...

    async def pause(self, queue: str) -> None:
        """Stop workers from claiming from ``queue``."""
        ...

    async def resume(self, queue: str) -> None:
        """Let workers claim from ``queue`` again."""
        ...

    async def failures(self, groups: FailuresView | None = None) -> FailuresView:
        """Failed jobs grouped by error, each group with its newest jobs."""
        ...


class _Reads:
    """What both links share: health, the dashboard, queue pause, failure reads.

    Args:
        settings: the installation.
        client: reads and job actions.
        probe: replaces the health probes (snapshot tests freeze latencies with it).
        use_dashboard: read the engine's dashboard (snapshot tests turn it off: its
            throughput and broker figures follow the wall clock).
    """

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        probe: Probe | None = None,
        use_dashboard: bool = True,
    ) -> None:
        self.settings = settings
        self.use_dashboard = use_dashboard
        self.reader = StatusReader(settings, client.reads)
        """The engine's read side over the client's pool: dashboards and probes."""
        self.watch = HealthWatch(settings, self.reader, probe=probe)
        self._client = client

    @property
    def client(self) -> Client:
        """Reads and job actions."""
        return self._client

    async def health(self) -> tuple[ServiceHealth, ...]:
        """Each service's state and probe latency; never raises."""
        return await self.watch.health()

    def mark_down(self, name: str, reason: str) -> ServiceHealth:
        """Record that a read from ``name`` just failed (it is probed again next refresh)."""
        return self.watch.mark_down(name, reason)

    def masked_url(self, name: str) -> str:
        """The service's URL with any password masked, for the down banner."""
        return self.watch.masked_url(name)

    async def dashboard(self) -> Dashboard | None:
        """The engine's dashboard snapshot; None when turned off.

        Health is probed separately (:meth:`health`), so the snapshot skips its
        own probes.
        """
        if not self.use_dashboard:
            return None
        return await self.reader.dashboard(probe_services=False)

    async def pause(self, queue: str) -> None:
        """Stop workers from claiming from ``queue``."""
        await self.client.pause_queue(queue)

    async def resume(self, queue: str) -> None:
        """Let workers claim from ``queue`` again."""
        await self.client.resume_queue(queue)

    async def failures(self, groups: FailuresView | None = None) -> FailuresView:
        """Failed jobs grouped by error (see :func:`failure_groups.failures`)."""
        return await failure_groups.failures(self.client, groups)

    async def _close_reads(self) -> None:
        with contextlib.suppress(Exception):  # a dead Redis must not stop the shutdown
            await self.reader.close()


class EmbeddedLink(_Reads):
    """The console runs the engine itself and drains it on quit.

    Args:
        engine: the engine to start with :meth:`start` and stop with :meth:`stop`.
        probe, use_dashboard: as for :class:`_Reads`.
    """

    mode: Mode = "embedded"

    def __init__(
        self, engine: Engine, *, probe: Probe | None = None, use_dashboard: bool = True
    ) -> None:
        super().__init__(engine.settings, engine.client, probe=probe, use_dashboard=use_dashboard)
        self.engine = engine
        self.started = False

    @property
    def can_scale(self) -> bool:
        """Once the engine runs, its supervisor scales (and the control bus reaches others)."""
        return self.started

    async def start(self) -> None:
        """Start the engine's services and local workers. Raises if a service is down."""
        if not self.started:
            await self.engine.start()
            self.started = True

    async def stop(self) -> None:
        """Drain the engine's workers, then release connections."""
        if self.started:
            await self.engine.stop()
            self.started = False
        await self._close_reads()

    async def workers(self) -> SupervisorSnapshot | None:
        """The engine's supervisor, once it runs."""
        return self.engine.supervisor.snapshot() if self.started else None

    async def scale(self, queue: str, workers: int, *, host: str | None = None) -> None:
        """Scale this engine's pool of ``queue``, or the engines' on another ``host``."""
        await self.engine.scale(queue, workers, host=host)

    async def recycle(self, worker_id: str) -> None:
        """Replace a worker: this engine's own, or another's through the control bus."""
        await self.engine.recycle(worker_id)


class AttachedLink(_Reads):
    """The console watches an engine running elsewhere (or, without a bus, only reads).

    Args:
        settings: the installation.
        client: reads and job actions; closed by :meth:`stop` when ``owns_client``.
        control: the broker's control bus, for scale and recycle (``--attach``).
        supervisor: a local supervisor to drive directly (tests stand one in).
        owns_client: close ``client`` in :meth:`stop`.
        probe, use_dashboard: as for :class:`_Reads`.
    """

    def __init__(
        self,
        settings: Settings,
        client: Client,
        *,
        control: ControlBus | None = None,
        supervisor: Supervisor | None = None,
        owns_client: bool = False,
        probe: Probe | None = None,
        use_dashboard: bool = True,
    ) -> None:
        super().__init__(settings, client, probe=probe, use_dashboard=use_dashboard)
        self.control = control
        self.supervisor = supervisor
        self.mode: Mode = "attached" if control is not None else "client"
        self.started = True
        self._requests = ScaleRequester(control) if control is not None else None
        self._budget_requests = BudgetRequester(control) if control is not None else None
        self._engines: tuple[EngineBudget, ...] = ()
        """The engines' last answers to a budget request (empty: none answered yet)."""
        self._budgets_asked = float("-inf")
        self._asking: asyncio.Task[None] | None = None
        self.scale_wait_s = SCALE_WAIT_S
        """How long a scale over the broker waits for the engines' answers."""
        self._owns_client = owns_client
        self._stack = contextlib.AsyncExitStack()

    @classmethod
    async def open(cls, settings: Settings, *, attach: bool) -> AttachedLink:
        """A link whose client publishes and caches after each commit, like the engine's.

        With ``attach``, scale and recycle go out over the control exchange.
        """
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(open_client(settings))
        link = cls(settings, client, control=ControlBus(settings) if attach else None)
        link._stack = stack
        return link

    @property
    def can_scale(self) -> bool:
        """With a supervisor to drive or a control bus to publish on."""
        return self.supervisor is not None or self.control is not None

    async def start(self) -> None:
        """Nothing to start: the engine runs elsewhere."""

    async def stop(self) -> None:
        """Release the control bus, the status cache and the client."""
        if self._asking is not None:
            self._asking.cancel()
            await asyncio.gather(self._asking, return_exceptions=True)
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.close()
        await self._close_reads()
        await self._stack.aclose()
        if self._owns_client:
            await self.client.close()

    async def workers(self) -> SupervisorSnapshot | None:
        """The local supervisor's snapshot, when there is one; attached, the engines'
        memory budgets as they last answered (asked again in the background every
        :data:`BUDGET_EVERY_S` seconds, so a refresh never waits for them)."""
        if self.supervisor is not None:
            return self.supervisor.snapshot()
        if self._budget_requests is None:
            return None
        stale = time.monotonic() - self._budgets_asked >= BUDGET_EVERY_S
        if stale and (self._asking is None or self._asking.done()):
            self._budgets_asked = time.monotonic()
            self._asking = asyncio.create_task(self._ask_budgets(), name="ask-engine-budgets")
        return engines_snapshot(self._engines) if self._engines else None

    async def _ask_budgets(self) -> None:
        assert self._budget_requests is not None
        try:
            self._engines = await self._budget_requests.request()
        except Exception as exc:  # the broker's trouble: the budget stays as last known
            log.warning("asking the engines for their memory budgets failed: %s", exc)

    async def scale(self, queue: str, workers: int, *, host: str | None = None) -> None:
        """Ask for ``workers`` processes on ``queue`` (supervisor, else every engine; with
        ``host``, only that host's engines).

        Over the broker it waits for the engines' answers: a refusal by any of them
        raises :class:`ScaleRefused` naming the engine and its reason, and silence
        :class:`NoEngineAnswered`, so the console says what happened.
        """
        here = self.supervisor is not None and (
            host is None or host == self.supervisor.snapshot().host
        )
        if self.supervisor is not None and here:
            await self.supervisor.scale(queue, workers)
        elif self._requests is not None:
            outcome = await self._requests.request(
                queue, workers, wait_s=self.scale_wait_s, host=host
            )
            if not outcome.answered:
                raise NoEngineAnswered(outcome.summary())
            if outcome.refusals:
                raise ScaleRefused(outcome.summary())
        else:
            raise UnavailableFeature("scaling needs the embedded engine or --attach to one")

    async def recycle(self, worker_id: str) -> None:
        """Replace one worker after its current job (supervisor, else its own engine)."""
        if self.supervisor is not None:
            await self.supervisor.recycle(worker_id)
        elif self.control is not None:
            await self.control.publish({"cmd": "recycle", "worker_id": worker_id})
        else:
            raise UnavailableFeature("recycling needs the embedded engine or --attach to one")


def engines_snapshot(engines: Sequence[EngineBudget]) -> SupervisorSnapshot:
    """The engines an attached console reaches, seen as one supervisor's budget: budgets
    and reservations summed (no budget at all when any engine runs without one); the
    workers themselves come from the dashboard, every host's."""
    budgets = [e.budget_mb for e in engines]
    return SupervisorSnapshot(
        supervisor_id=", ".join(e.engine for e in engines),
        host=", ".join(sorted({e.host for e in engines})),
        targets={},
        workers=(),
        memory_budget_mb=None if any(b is None for b in budgets) else sum(filter(None, budgets)),
        memory_per_worker_mb=max(e.per_worker_mb for e in engines),
        memory_reserved_mb=sum(e.reserved_mb for e in engines),
    )


async def open_link(
    settings: Settings,
    *,
    attach: bool = False,
    workers: Mapping[str, int] | int | None = None,
    memory_budget_mb: int | None = None,
) -> EngineLink:
    """The link for the command line: embedded by default, attached with ``--attach``.

    ``workers`` is a count per queue (``{"default": 2}``) or one count for the
    ``default`` queue. Nothing here connects yet: a dead service must not stop
    the console from opening. The embedded engine is started by ``start()``.
    """
    if attach:
        return await AttachedLink.open(settings, attach=True)
    if workers is None:
        workers = DEFAULT_WORKERS
    per_queue = {"default": workers} if isinstance(workers, int) else dict(workers)
    engine = Engine(settings, EngineOptions(workers=per_queue, memory_budget_mb=memory_budget_mb))
    return EmbeddedLink(engine)
