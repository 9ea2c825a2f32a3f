"""What the app holds while it serves: one client, one status reader, the metrics
exporter and the token cache, opened in the app's lifespan and closed after it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from engine.client import Client
from engine.config import Settings
from engine.metrics.exporter import MetricsExporter
from engine.readapi.reader import StatusReader
from engine.runtime.wiring import open_client
from queueconsole.api.tokens import TokenCache


@dataclass(frozen=True, slots=True)
class ApiState:
    """The app's connections and caches (``app.state.api``)."""

    settings: Settings
    client: Client
    """Submits and operates; its commits are published and cached like the CLI's."""
    reader: StatusReader
    """``/v1/status``: the dashboard snapshot and the doctor's quick checks."""
    metrics: MetricsExporter
    """``/metrics`` and ``/healthz``."""
    tokens: TokenCache
    auth_required: bool
    """False only with ``--no-auth`` on a loopback address."""


@contextlib.asynccontextmanager
async def open_state(
    settings: Settings, *, auth_required: bool, count_events: bool = True
) -> AsyncIterator[ApiState]:
    """Open every connection the routes use (one database pool, shared); close them on exit.

    ``count_events``: whether this process feeds ``/metrics``'s counters (one process
    of those sharing a port does: see :mod:`engine.metrics.exporter`).
    """
    async with open_client(settings) as client:
        reader = StatusReader(settings, db=client.reads)
        metrics = MetricsExporter(settings, db=client.reads, count_events=count_events)
        await metrics.start()
        try:
            yield ApiState(
                settings=settings,
                client=client,
                reader=reader,
                metrics=metrics,
                tokens=TokenCache(client.use_token),
                auth_required=auth_required,
            )
        finally:
            try:
                await metrics.stop()
            finally:
                await reader.close()


def state_of(connection: HTTPConnection) -> ApiState:
    """The app's state, from a request or a WebSocket."""
    state: ApiState = connection.app.state.api
    return state


async def api_state(request: Request) -> ApiState:
    """FastAPI dependency: the app's state. Async on purpose: FastAPI runs a plain
    function dependency in a worker thread, a thread hop per request."""
    return state_of(request)


Api = Annotated[ApiState, Depends(api_state)]
"""A route's parameter that receives the app's state."""
