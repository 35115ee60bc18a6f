"""The FastAPI application: ``/v1`` routes, health and metrics, and the error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from offchain.relayer.api.routes import accounts, actions, health, jobs, order_views, orders, quotes, webhooks
from offchain.relayer.exceptions import ApiError, RelayerError
from offchain.relayer.runtime import Runtime

log = logging.getLogger(__name__)

api_router = APIRouter(prefix="/v1")
for module in (quotes, actions, orders, jobs, order_views, accounts, webhooks):
    api_router.include_router(module.router)


def create_app(runtime: Runtime, *, on_start: Callable[[], None] | None = None,
               on_stop: Callable[[], None] | None = None) -> FastAPI:  # fmt: skip
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_start:
            on_start()
        yield
        if on_stop:
            on_stop()

    app = FastAPI(title="taskescrow relayer", version="1", lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(api_router)
    app.include_router(health.router)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status, content={"detail": {"code": exc.code, "message": exc.message, **exc.extra}}
        )

    @app.exception_handler(RelayerError)
    async def _relayer_error(_request: Request, exc: RelayerError) -> JSONResponse:
        log.warning("request failed: %s", exc)
        return JSONResponse(status_code=503, content={"detail": {"code": "unavailable", "message": str(exc)}})

    return app
