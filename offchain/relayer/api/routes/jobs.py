"""``/v1/jobs``: read a job with every attempt; cancel one that has not been sent."""

from __future__ import annotations

from fastapi import APIRouter

from offchain.relayer import store
from offchain.relayer.api.deps import ReaderKey, RuntimeDep, SessionDep
from offchain.relayer.api.jobs import load_public
from offchain.relayer.api.schemas import JobPublic
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import ApiError, InvalidTransition

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, response_model_by_alias=True)
def read_job(job_id: str, rt: RuntimeDep, session: SessionDep, _key: ReaderKey) -> JobPublic:
    """The job's state, and for each attempt its hash, gas, block, confirmations; a decoded revert if it failed."""
    return load_public(rt, session, job_id)


@router.post("/{job_id}/cancel", response_model=JobPublic, response_model_by_alias=True)
def cancel_job(job_id: str, rt: RuntimeDep, _key: ReaderKey) -> JobPublic:
    """Cancel a job that is still ``queued`` (no nonce, nothing signed); later it is too late (409)."""
    try:
        with transaction(rt.sessions) as session:
            if store.get_transaction(session, tx_id=job_id) is None:
                raise ApiError(404, "not_found", f"no job {job_id}")
            store.update_queued_to_cancelled(session, tx_id=job_id)
    except InvalidTransition as exc:
        message = f"job {job_id} is {exc.current}: only a queued job can be cancelled"
        raise ApiError(409, "not_cancellable", message) from exc
    with rt.sessions() as session:
        return load_public(rt, session, job_id)
