"""``GET /v1/accounts/{address}/payments``: "Billing and Payments" from the chain index."""

from __future__ import annotations

from typing import Annotated

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from offchain.relayer.api.deps import BackendKey, SessionDep
from offchain.relayer.exceptions import ApiError
from offchain.relayer.index.models import PAYMENT_KINDS, IndexPayment

router = APIRouter(prefix="/accounts", tags=["accounts"])


class PaymentPublic(BaseModel):
    kind: str
    orderRef: str | None
    token: str
    amount: str
    txHash: str
    blockNumber: int
    blockTime: int


class TokenTotals(BaseModel):
    funded: str
    released: str
    refunded: str
    fee: str
    withdrawn: str
    #: released + refunded + fee - withdrawn: what ``withdrawable(token, account)`` holds
    balance: str


class PaymentPage(BaseModel):
    account: str
    totals: dict[str, TokenTotals]
    items: list[PaymentPublic]
    nextCursor: str | None


def totals_of(rows: list[tuple[str, str, str]]) -> dict[str, TokenTotals]:
    sums: dict[str, dict[str, int]] = {}
    for token, kind, amount in rows:
        sums.setdefault(token, dict.fromkeys(PAYMENT_KINDS, 0))[kind] += int(amount)
    return {
        token: TokenTotals(
            **{k: str(v) for k, v in s.items()},
            balance=str(s["released"] + s["refunded"] + s["fee"] - s["withdrawn"]),
        )
        for token, s in sums.items()
    }


@router.get("/{address}/payments", response_model=PaymentPage)
def list_payments(
    address: str,
    session: SessionDep,
    _key: BackendKey,
    token: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PaymentPage:
    """The account's payments, newest first (funded, released, refunded, fee, withdrawn), and totals per token."""
    if not is_address(address):
        raise ApiError(422, "invalid_address", f"{address!r} is not an address")
    account = to_checksum_address(address)
    query = select(IndexPayment).where(IndexPayment.account == account)
    if token:
        if not is_address(token):
            raise ApiError(422, "invalid_address", f"token {token!r} is not an address")
        query = query.where(IndexPayment.token == to_checksum_address(token))
    if cursor:
        try:
            query = query.where(IndexPayment.position < int(cursor))
        except ValueError as exc:
            raise ApiError(422, "invalid_cursor", "pass the nextCursor of the previous page") from exc
    rows = list(session.scalars(query.order_by(IndexPayment.position.desc()).limit(limit + 1)))
    page = rows[:limit]
    all_rows = session.execute(
        select(IndexPayment.token, IndexPayment.kind, IndexPayment.amount).where(IndexPayment.account == account)
    ).all()
    return PaymentPage(
        account=account,
        totals=totals_of([tuple(r) for r in all_rows]),  # type: ignore[misc]
        items=[
            PaymentPublic(
                kind=p.kind,
                orderRef=p.ref,
                token=p.token,
                amount=p.amount,
                txHash=p.tx_hash,
                blockNumber=p.block_number,
                blockTime=p.block_time,
            )
            for p in page
        ],
        nextCursor=str(page[-1].position) if len(rows) > limit else None,
    )
