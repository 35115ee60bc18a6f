"""Jobs that are not a party's signed action: rulings, settlements, funding by signature, timeouts."""

from __future__ import annotations

from fastapi import APIRouter, Response

from offchain.relayer.api.deps import ArbiterKey, BackendKey, IdempotencyKeyDep, RuntimeDep
from offchain.relayer.api.jobs import create_job, respond
from offchain.relayer.api.schemas import FundingCreate, JobPublic, RulingCreate, SettlementCreate, TimeoutCreate
from offchain.relayer.exceptions import ApiError
from offchain.relayer.models import ApiKey
from offchain.relayer.runtime import Runtime

router = APIRouter(tags=["orders"])
NATIVE = "0x" + "00" * 20


def _b(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string[2:])


def _job(rt: Runtime, key: str, kind: str, body: dict[str, object], sender: str, data: bytes, api_key: ApiKey):
    return create_job(rt, key=key, kind=kind, body=body, from_address=sender, data=data, api_key=api_key)


@router.post("/rulings", response_model=JobPublic, status_code=202, response_model_by_alias=True)
def submit_ruling(
    body: RulingCreate, rt: RuntimeDep, key: IdempotencyKeyDep, api_key: ArbiterKey, response: Response
) -> JobPublic:
    """The arbiter's ruling: ``resolveDispute(ref, freelancerBps)``, sent from the arbiter key."""
    arbiter = rt.arbiter
    if arbiter is None:
        raise ApiError(503, "no_arbiter_key", "this relayer has no arbiter key: set TASKESCROW_ARBITER_ADDRESS")
    data = rt.escrow.encode("resolveDispute", _b(body.orderRef), body.freelancerBps)
    job, created = _job(rt, key, "resolveDispute", body.model_dump(), arbiter.address, data, api_key)
    return respond(rt, job, created, response)


@router.post("/settlements", response_model=JobPublic, status_code=202, response_model_by_alias=True)
def submit_settlement(
    body: SettlementCreate, rt: RuntimeDep, key: IdempotencyKeyDep, api_key: BackendKey, response: Response
) -> JobPublic:
    """A split both parties signed: ``settle(ref, freelancerBps, clientSig, freelancerSig)``."""
    data = rt.escrow.encode(
        "settle", _b(body.orderRef), body.freelancerBps, _b(body.clientSignature), _b(body.freelancerSignature)
    )
    job, created = _job(rt, key, "settle", body.model_dump(), rt.sender.address, data, api_key)
    return respond(rt, job, created, response)


@router.post("/fundings", response_model=JobPublic, status_code=202, response_model_by_alias=True)
def submit_funding(
    body: FundingCreate, rt: RuntimeDep, key: IdempotencyKeyDep, api_key: BackendKey, response: Response
) -> JobPublic:
    """Fund a BEP-20 order with the client's consent: ``fundWithSig(terms, quoteSig, clientSig)``."""
    if body.terms.token == NATIVE:
        raise ApiError(422, "native_not_signable", "terms.token: fundWithSig is for BEP-20 orders; BNB needs `fund`")
    t = body.terms
    terms = (_b(t.orderRef), t.client, t.freelancer, t.token, t.amount, t.feeBps, t.deliveryDuration, t.maxRevisions,
             t.quoteExpiry)  # fmt: skip
    data = rt.escrow.encode("fundWithSig", terms, _b(body.quoteSignature), _b(body.clientSignature))
    job, created = _job(rt, key, "fundWithSig", body.model_dump(), rt.sender.address, data, api_key)
    return respond(rt, job, created, response)


@router.post("/timeouts", response_model=JobPublic, status_code=202, response_model_by_alias=True)
def submit_timeout(
    body: TimeoutCreate, rt: RuntimeDep, key: IdempotencyKeyDep, api_key: BackendKey, response: Response
) -> JobPublic:
    """A permissionless transition that is due: ``finalize(ref)`` or ``startRevision(ref)``."""
    data = rt.escrow.encode(body.action, _b(body.orderRef))
    job, created = _job(rt, key, body.action, body.model_dump(), rt.sender.address, data, api_key)
    return respond(rt, job, created, response)
