"""Dependencies of the routes: the runtime, a database session, the caller's API key and scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from offchain.relayer import store
from offchain.relayer.exceptions import ApiError
from offchain.relayer.models import ApiKey
from offchain.relayer.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def require_scope(*scopes: str) -> Callable[..., ApiKey]:
    """A dependency that lets the request through only with a live key holding one of ``scopes`` (or admin)."""

    def check(
        rt: RuntimeDep,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> ApiKey:
        presented = _presented_key(authorization, x_api_key)
        if not presented:
            raise ApiError(401, "unauthenticated", "send an API key as `Authorization: Bearer <key>` or `X-API-Key`")
        with rt.sessions() as session:
            key = store.verify_api_key(session, presented=presented)
        if key is None:
            raise ApiError(401, "unauthenticated", "unknown or revoked API key")
        held = set(key.scopes.split(","))
        if "admin" not in held and not held & set(scopes):
            raise ApiError(403, "forbidden", f"this key lacks the scope {' or '.join(scopes)}")
        return key

    return check


def idempotency_key(idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str:
    if idempotency_key is None or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "every write needs an Idempotency-Key header")
    if len(idempotency_key) > 200:
        raise ApiError(400, "idempotency_key_invalid", "Idempotency-Key is at most 200 characters")
    return idempotency_key


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]
BackendKey = Annotated[ApiKey, Depends(require_scope("backend"))]
ArbiterKey = Annotated[ApiKey, Depends(require_scope("arbiter"))]
ReaderKey = Annotated[ApiKey, Depends(require_scope("backend", "arbiter"))]
