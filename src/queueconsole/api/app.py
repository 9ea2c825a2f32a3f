"""The FastAPI app: routes, errors, body limit, and the one lifespan that opens and
closes what the routes use.

Features that need something running beside the routes (the live event stream)
add an async context manager of ``(app, settings)`` to :data:`FEATURE_LIFESPANS`;
they are entered after the app's own state is open and left before it closes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from engine.config import Settings
from queueconsole.api import problems
from queueconsole.api.auth import Scope, authenticate_websocket, require
from queueconsole.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from queueconsole.api.events import event_feed_lifespan, events_router
from queueconsole.api.routes import health, jobs, operations, status, submit
from queueconsole.api.state import open_state
from queueconsole.version import installed_version

FeatureLifespan = Callable[[FastAPI, Settings], AbstractAsyncContextManager[object]]

FEATURE_LIFESPANS: tuple[FeatureLifespan, ...] = (event_feed_lifespan,)
"""Run inside the app's lifespan, in order (e.g. the event stream's feed)."""

DESCRIPTION = """\
Submit, read and operate queueconsole jobs over HTTP.

Authenticate with `Authorization: Bearer <secret>` (`queueconsole token create NAME
--scope read|submit|operate`). Scopes nest: **read** (GETs) ⊂ **submit** (+ submissions)
⊂ **operate** (+ cancel, retry, pause, limits). Errors are `application/problem+json`
(RFC 9457); a 422 lists every wrong field in `errors`.
"""


def create_app(
    settings: Settings,
    *,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    lifespans: Sequence[FeatureLifespan] = FEATURE_LIFESPANS,
    count_events: bool = True,
) -> FastAPI:
    """The API for one installation.

    Args:
        settings: the installation (database, broker, cache).
        auth: require tokens (False only behind a loopback address; the command checks).
        max_body_bytes: larger request bodies are refused with 413 before being read.
        lifespans: features' context managers run while the app serves.
        count_events: feed ``/metrics``'s counters from the event channel (all but one
            of several processes sharing a port leave it to that one).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app.state.api = await stack.enter_async_context(
                open_state(settings, auth_required=auth, count_events=count_events)
            )
            for feature in lifespans:
                await stack.enter_async_context(feature(app, settings))
            yield

    app = FastAPI(
        title="queueconsole",
        version=installed_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks ask on every request whether a provider is
        # configured (measurable on the submit path); the engine has its own metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    problems.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.problem_media_types(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for module in (submit, jobs, operations, status, health):
        app.include_router(module.router)
    if auth:
        app.include_router(
            events_router(
                require(Scope.READ, allow_query_token=True),
                lambda ws: authenticate_websocket(ws, Scope.READ),
            )
        )
    else:
        app.include_router(events_router())
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
