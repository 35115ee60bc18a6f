"""``/healthz`` (the process answers), ``/readyz`` (database and chain answer), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from offchain.relayer.api.deps import RuntimeDep
from offchain.relayer.exceptions import RelayerError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(rt: RuntimeDep, response: Response) -> dict[str, str]:
    checks = {"database": "ok", "chain": "ok"}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        rt.chain.block_number()
    except RelayerError as exc:
        checks["chain"] = type(exc).__name__
    if any(v != "ok" for v in checks.values()):
        response.status_code = 503
    return checks


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
