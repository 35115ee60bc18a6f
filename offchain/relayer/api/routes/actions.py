"""``/v1/actions``: a party's signed action, checked off-chain and simulated before it becomes a job."""

from __future__ import annotations

import time

from eth_account import Account
from fastapi import APIRouter, Response

from offchain.eip712 import Action, PartyAction, action_digest
from offchain.relayer.api.deps import BackendKey, IdempotencyKeyDep, RuntimeDep
from offchain.relayer.api.jobs import create_job, respond
from offchain.relayer.api.schemas import JobPublic, SignedActionCreate
from offchain.relayer.exceptions import ApiError, ChainError
from offchain.relayer.runtime import Runtime

router = APIRouter(prefix="/actions", tags=["actions"])


def _b(hex_string: str) -> bytes:
    return bytes.fromhex(hex_string[2:])


_clock: list[float] = [0.0, 0.0]  # (chain timestamp, monotonic time it was read)


def chain_time(rt: Runtime, *, deadline: int) -> int:
    """The latest block's timestamp; read again unless a recent reading leaves ``deadline`` clearly ahead."""
    if time.monotonic() - _clock[1] > 1.0 or deadline <= _clock[0] + 60:
        _clock[:] = [int(rt.chain.latest_block()["timestamp"], 16), time.monotonic()]
    return int(_clock[0])


def check_signed_action(rt: Runtime, body: SignedActionCreate, message: PartyAction) -> None:
    """The checks that need no transaction: deadline, nonce, and (for plain accounts) the signature."""
    try:
        now = chain_time(rt, deadline=body.deadline)
        nonce = int.from_bytes(rt.chain.call({"to": rt.escrow.address, "data": rt.escrow.encode("nonces", body.party)}))
    except ChainError as exc:
        raise ApiError(503, "rpc_unavailable", "the chain is unreachable right now; retry with the same key") from exc
    if body.deadline < now:
        raise ApiError(422, "signature_expired", f"deadline {body.deadline} is before the chain's time {now}")
    if body.nonce != nonce:
        raise ApiError(422, "wrong_nonce", f"nonce {body.nonce} is not {body.party}'s next nonce {nonce}",
                       expected=nonce)  # fmt: skip
    signature = _b(body.signature)
    if len(signature) == 65:
        try:
            signer = Account._recover_hash(action_digest(rt.domain, message), signature=signature)
        except Exception:
            signer = None
        if signer is not None and signer != body.party:
            # a contract wallet (ERC-1271) may still accept it: the simulation decides
            code = rt.chain.code(body.party)
            if not code:
                raise ApiError(422, "bad_signature", f"the signature recovers to {signer}, not {body.party}")


@router.post("", response_model=JobPublic, status_code=202, response_model_by_alias=True)
def submit_action(
    body: SignedActionCreate, rt: RuntimeDep, key: IdempotencyKeyDep, api_key: BackendKey, response: Response
) -> JobPublic:
    """Queue ``executeWithSig(action, signature)``. Doomed actions are refused with 422 and the reason."""
    message = PartyAction(
        party=body.party,
        action=Action[body.action],
        orderRef=_b(body.orderRef),
        args=_b(body.args),
        nonce=body.nonce,
        deadline=body.deadline,
    )
    data = rt.escrow.encode("executeWithSig", message.as_tuple(), _b(body.signature))
    job, created = create_job(
        rt,
        key=key,
        kind="executeWithSig",
        body=body.model_dump(),
        from_address=rt.sender.address,
        data=data,
        api_key=api_key,
        precheck=lambda: check_signed_action(rt, body, message),
    )
    return respond(rt, job, created, response)
