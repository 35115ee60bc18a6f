"""Creating and presenting jobs: idempotency, the pre-flight simulation, and the public view of a row."""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

from fastapi import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from offchain.relayer import store
from offchain.relayer.api.schemas import AttemptPublic, JobPublic
from offchain.relayer.chain import RpcErrorReply, revert_data
from offchain.relayer.db import GroupCommit, transaction
from offchain.relayer.exceptions import ApiError, ChainError, RpcUnavailable, StorageError
from offchain.relayer.models import ApiKey, Transaction, as_utc
from offchain.relayer.runtime import Runtime


def _replay(existing: Transaction, req_hash: str, key: str) -> Transaction:
    if existing.request_hash != req_hash:
        raise ApiError(409, "idempotency_conflict", f"Idempotency-Key {key!r} was used with a different request",
                       job_id=existing.id)  # fmt: skip
    return existing


def simulate(rt: Runtime, *, from_address: str, data: bytes, value: int = 0) -> int:
    """Estimate gas for the call as our signer would send it; a revert becomes a 422 naming the custom error."""
    tx = {"from": from_address, "to": rt.escrow.address, "data": data, "value": value}
    try:
        estimate = rt.chain.estimate_gas(tx)
    except RpcErrorReply as exc:
        raw = revert_data(exc)
        if raw is None:
            raise ApiError(502, "node_error", f"the node refused the simulation: {exc.message}") from exc
        decoded = rt.escrow.decode_error(raw)
        raise ApiError(422, "would_revert", decoded.reason, error=decoded.error, args=decoded.values) from exc
    except RpcUnavailable as exc:
        raise ApiError(503, "rpc_unavailable", "the chain is unreachable right now; retry with the same key") from exc
    except ChainError as exc:
        raise ApiError(502, "node_error", str(exc)) from exc
    return int(estimate * rt.settings.gas_limit_multiplier) + 10_000


_INSERTS: weakref.WeakKeyDictionary[sessionmaker[Session], GroupCommit[Transaction, bool]] = weakref.WeakKeyDictionary()
_INSERTS_LOCK = threading.Lock()


def _inserts(rt: Runtime) -> GroupCommit[Transaction, bool]:
    """New jobs of concurrent requests are committed together (one write transaction per batch)."""
    with _INSERTS_LOCK:
        writer = _INSERTS.get(rt.sessions)
        if writer is None:
            writer = _INSERTS[rt.sessions] = GroupCommit(rt.sessions, store.insert_queued_transactions)
        return writer


def _insert_alone(rt: Runtime, job: Transaction) -> bool:
    try:
        with transaction(rt.sessions) as session:
            return store.insert_queued_transactions(session, [job])[0]
    except StorageError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            return False
        raise


def create_job(
    rt: Runtime,
    *,
    key: str,
    kind: str,
    body: dict[str, Any],
    from_address: str,
    data: bytes,
    api_key: ApiKey,
    value: int = 0,
    precheck: Any = None,
) -> tuple[Transaction, bool]:
    """The job for ``key``: the existing one if this exact request was made before, else a new queued job.

    ``precheck`` (a callable) runs only for new requests, before the simulation, and raises :class:`ApiError`.
    """
    req_hash = store.request_hash(kind, body)
    with rt.sessions() as session:
        existing = store.find_by_idempotency_key(session, key=key)
    if existing is not None:
        return _replay(existing, req_hash, key), False
    if precheck is not None:
        precheck()
    gas_limit = simulate(rt, from_address=from_address, data=data, value=value)
    fields = dict(idempotency_key=key, req_hash=req_hash, kind=kind, params=body, from_address=from_address,
                  to_address=rt.escrow.address, data=data, value=value, gas_limit=gas_limit, chain_id=rt.chain_id,
                  api_key_id=api_key.id)  # fmt: skip
    job = store.new_queued_transaction(**fields)
    try:
        stored = _inserts(rt).submit(job)
    except StorageError as exc:  # another process stored one of the batch's keys first: each on its own, then
        if not isinstance(exc.__cause__, IntegrityError):
            raise
        job = store.new_queued_transaction(**fields)
        stored = _insert_alone(rt, job)
    if not stored:  # a concurrent request with the same key was stored first
        with rt.sessions() as session:
            existing = store.find_by_idempotency_key(session, key=key)
        if existing is None:
            raise ApiError(409, "idempotency_conflict", f"Idempotency-Key {key!r} is being used by another request")
        return _replay(existing, req_hash, key), False
    rt.notify("queued")
    return job, True


def to_public(job: Transaction, head: int | None) -> JobPublic:
    attempts = [
        AttemptPublic(
            hash=a.hash,
            nonce=a.nonce,
            gasPrice=a.gas_price,
            priorityFee=a.priority_fee,
            state=a.state,
            blockNumber=a.block_number,
            blockHash=a.block_hash,
            gasUsed=a.gas_used,
            status=a.receipt_status,
            confirmations=(head - a.block_number + 1) if head is not None and a.block_number is not None else None,
        )
        for a in job.attempts
    ]
    return JobPublic.model_validate(
        {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "idempotencyKey": job.idempotency_key,
            "params": json.loads(job.params),
            "from": job.from_address,
            "to": job.to_address,
            "nonce": job.nonce,
            "error": job.error,
            "errorReason": job.error_reason,
            "createdAt": as_utc(job.created_at),
            "updatedAt": as_utc(job.updated_at),
            "attempts": attempts,
        }
    )


def respond(rt: Runtime, job: Transaction, created: bool, response: Response) -> JobPublic:
    """The answer to a write: 202 and the new job as created (queued, no attempts yet: nothing to read back),
    or 200 and the job's current state for a replay."""
    if created:
        return to_public(job, None)
    response.status_code = 200
    with rt.sessions() as session:
        return load_public(rt, session, job.id)


def load_public(rt: Runtime, session: Session, job_id: str) -> JobPublic:
    job = store.get_transaction(session, tx_id=job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    head: int | None = None
    if any(a.block_number is not None for a in job.attempts):
        try:
            head = rt.chain.block_number()
        except ChainError:
            head = None
    return to_public(job, head)
