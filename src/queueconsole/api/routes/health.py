"""``/metrics`` (Prometheus text) and ``/healthz``: no token, as scrapers and load
balancers expect. Neither shows a job's content: counts, workers, service health."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from engine.metrics.exporter import CONTENT_TYPE
from queueconsole.api.models import HealthOut
from queueconsole.api.state import Api

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
    summary="Prometheus metrics",
)
async def metrics(state: Api) -> Response:
    """Jobs per queue and state, broker depth, workers, and run/wait histograms."""
    body = await state.metrics.metrics_text()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "PostgreSQL or RabbitMQ does not answer"}},
    summary="Health of the services the engine needs",
)
async def healthz(state: Api) -> JSONResponse:
    """200 while PostgreSQL and RabbitMQ answer, else 503; Redis is reported, not required."""
    status, body = await state.metrics.health()
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
