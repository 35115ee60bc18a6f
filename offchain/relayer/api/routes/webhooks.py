"""``/v1/webhooks``: endpoints (admin), deliveries with every attempt, the dead-letter list and its replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from offchain.relayer.api.deps import RuntimeDep, SessionDep, require_scope
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import ApiError
from offchain.relayer.index import webhooks
from offchain.relayer.index.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from offchain.relayer.models import ApiKey

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]


class EndpointCreate(BaseModel):
    url: str
    #: HMAC secret; generated when omitted (returned once, in the answer)
    secret: str | None = None
    description: str = ""


class EndpointPublic(BaseModel):
    id: str
    url: str
    description: str
    active: bool
    secret: str | None = None


class AttemptPublic(BaseModel):
    at: float
    statusCode: int | None
    error: str | None
    durationMs: float


class DeliveryPublic(BaseModel):
    id: int
    endpointId: str
    eventId: str
    type: str
    orderRef: str | None
    state: str
    attempts: list[AttemptPublic]
    nextAttemptAt: float


class ReplayRequest(BaseModel):
    #: delivery ids; omitted: every dead delivery
    ids: list[int] | None = None


def _endpoint(row: WebhookEndpoint, secret: str | None = None) -> EndpointPublic:
    return EndpointPublic(id=row.id, url=row.url, description=row.description, active=row.active, secret=secret)


@router.post("/endpoints", response_model=EndpointPublic, status_code=201)
def create_endpoint(body: EndpointCreate, rt: RuntimeDep, _key: AdminKey) -> EndpointPublic:
    """Register an endpoint; it receives every change indexed from now on, signed with its secret."""
    try:
        with transaction(rt.sessions) as session:
            row = webhooks.create_endpoint(session, url=body.url, secret=body.secret, description=body.description)
    except ValueError as exc:
        raise ApiError(422, "invalid_url", str(exc)) from exc
    return _endpoint(row, row.secret)


@router.get("/endpoints", response_model=list[EndpointPublic])
def list_endpoints(session: SessionDep, _key: AdminKey) -> list[EndpointPublic]:
    return [_endpoint(r) for r in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at))]


@router.delete("/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, rt: RuntimeDep, _key: AdminKey) -> None:
    """Stop sending to an endpoint (its history stays)."""
    with transaction(rt.sessions) as session:
        if not webhooks.deactivate_endpoint(session, endpoint_id=endpoint_id):
            raise ApiError(404, "not_found", f"no endpoint {endpoint_id}")


@router.get("/deliveries", response_model=list[DeliveryPublic])
def list_deliveries(
    session: SessionDep,
    _key: AdminKey,
    state: Annotated[str, Query(pattern="^(pending|delivered|dead)$")] = "dead",
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    """Deliveries in ``state`` (the dead-letter list by default), each with every attempt."""
    rows = session.execute(
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
        .where(WebhookDelivery.state == state, WebhookDelivery.id > after)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    ).all()
    attempts: dict[int, list[AttemptPublic]] = {}
    ids = [d.id for d, _ in rows]
    if ids:
        for a in session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)).order_by(WebhookAttempt.id)
        ):
            attempts.setdefault(a.delivery_id, []).append(
                AttemptPublic(at=a.at, statusCode=a.status_code, error=a.error, durationMs=a.duration_ms)
            )
    return [
        DeliveryPublic(
            id=d.id,
            endpointId=d.endpoint_id,
            eventId=e.id,
            type=e.type,
            orderRef=e.ref,
            state=d.state,
            attempts=attempts.get(d.id, []),
            nextAttemptAt=d.next_attempt_at,
        )
        for d, e in rows
    ]


@router.post("/dead-letters/replay")
def replay(body: ReplayRequest, rt: RuntimeDep, _key: AdminKey) -> dict[str, Any]:
    """Send dead deliveries again (all, or the given ids), with a fresh retry window."""
    with transaction(rt.sessions) as session:
        count = webhooks.replay_dead(session, delivery_ids=body.ids)
    return {"requeued": count}
