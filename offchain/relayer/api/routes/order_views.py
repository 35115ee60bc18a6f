"""``GET /v1/orders``: read orders from the chain index ("View All Orders", one order, its delivery history).

The write routes on orders (rulings, settlements, fundings, timeouts) are in :mod:`.orders`.
"""

from __future__ import annotations

from typing import Annotated, Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import or_, select

from offchain.eip712 import Action, Lateness, OrderTerms, Status
from offchain.model import ZERO_ADDRESS, Model, OrderState, Timings
from offchain.relayer.api.deps import BackendKey, RuntimeDep, SessionDep
from offchain.relayer.exceptions import ApiError, ChainError
from offchain.relayer.index.models import IndexDelivery, IndexOrder, IndexState
from offchain.relayer.runtime import Runtime

router = APIRouter(prefix="/orders", tags=["orders"])

#: a stand-in account that is neither party: what "anyone" (a keeper) may do
ANYONE = "0x00000000000000000000000000000000000000A1"


def camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(part.title() for part in rest)


def status_name(value: int) -> str:
    return "".join(part.title() for part in Status(value).name.split("_"))


def lateness_name(value: int) -> str:
    return "".join(part.title() for part in Lateness(value).name.split("_"))


class ActionWindow(BaseModel):
    action: str
    availableNow: bool
    #: first block time at which the action is possible
    availableFrom: int
    #: last block time at which it is possible (None: no time limit in this status)
    availableUntil: int | None


class PartyActions(BaseModel):
    address: str
    actions: list[ActionWindow]


class DeliveryPublic(BaseModel):
    index: int
    deliverableHash: str
    deliveredAt: int
    lateness: str
    reviewBy: int
    blockNumber: int
    txHash: str


class OrderPublic(BaseModel):
    ref: str
    status: str
    client: str
    freelancer: str
    token: str
    amount: str
    feeBps: int
    deliveryDuration: int
    maxRevisions: int
    deliverBy: int
    reviewBy: int
    respondBy: int
    revisionsUsed: int
    refundRefusals: int
    deliveryCount: int
    lastLateness: str
    clientRating: int
    freelancerRating: int
    clientReplied: bool
    freelancerReplied: bool
    proposedDeliverBy: int
    deadlineProposer: str | None
    fundedAt: int
    fundedBlock: int
    updatedAt: int
    updatedBlock: int


class OrderDetail(OrderPublic):
    #: the block time the windows below are computed for (the latest block's)
    now: int
    clientActions: PartyActions
    freelancerActions: PartyActions
    anyone: list[ActionWindow]


class OrderPage(BaseModel):
    items: list[OrderPublic]
    nextCursor: str | None


def to_public(o: IndexOrder) -> dict[str, Any]:
    working = o.status in (Status.IN_PROGRESS, Status.IN_REVISION)
    pending = working and o.proposer is not None and o.proposal_for == o.delivery_count
    return {
        "ref": o.ref,
        "status": status_name(o.status),
        "client": o.client,
        "freelancer": o.freelancer,
        "token": o.token,
        "amount": o.amount,
        "feeBps": o.fee_bps,
        "deliveryDuration": o.delivery_duration,
        "maxRevisions": o.max_revisions,
        "deliverBy": o.deliver_by,
        "reviewBy": o.deadline if o.status == Status.DELIVERED else 0,
        "respondBy": o.deadline if o.status in (Status.REVISION_REQUESTED, Status.REFUND_REQUESTED) else 0,
        "revisionsUsed": o.revisions_used,
        "refundRefusals": o.refund_refusals,
        "deliveryCount": o.delivery_count,
        "lastLateness": lateness_name(o.last_lateness),
        "clientRating": o.client_rating,
        "freelancerRating": o.freelancer_rating,
        "clientReplied": o.client_replied,
        "freelancerReplied": o.freelancer_replied,
        "proposedDeliverBy": o.proposed_deliver_by if pending else 0,
        "deadlineProposer": o.proposer if pending else None,
        "fundedAt": o.funded_at,
        "fundedBlock": o.funded_block,
        "updatedAt": o.updated_at,
        "updatedBlock": o.updated_block,
    }


def model_of(o: IndexOrder, state: IndexState) -> tuple[Model, bytes]:
    """The reference model (``offchain/model.py``) holding this one order as the index has it."""
    ref = bytes.fromhex(o.ref[2:])
    terms = OrderTerms(ref, o.client, o.freelancer, o.token, int(o.amount), o.fee_bps, o.delivery_duration,
                       o.max_revisions, 0)  # fmt: skip
    model = Model(
        Timings(state.response_window, state.review_period, state.serious_delay),
        admin=ZERO_ADDRESS,
        fee_recipient=state.fee_recipient,
    )
    model.orders[ref] = OrderState(
        terms=terms,
        status=Status(o.status),
        deliver_by=o.deliver_by,
        deadline=o.deadline,
        revisions_used=o.revisions_used,
        refund_refusals=o.refund_refusals,
        delivery_count=o.delivery_count,
        last_lateness=Lateness(o.last_lateness),
        client_rating=o.client_rating,
        freelancer_rating=o.freelancer_rating,
        client_replied=o.client_replied,
        freelancer_replied=o.freelancer_replied,
        proposer=o.proposer or ZERO_ADDRESS,
        proposed=o.proposed_deliver_by,
        proposal_for=o.proposal_for,
    )
    return model, ref


def windows(
    model: Model, ref: bytes, account: str, now: int, *, exclude: set[Action] | None = None
) -> list[ActionWindow]:
    out = []
    for action, (start, until) in sorted(model.windows(ref, account, now).items()):
        if exclude and action in exclude:
            continue
        out.append(ActionWindow(action=camel(action.name), availableNow=start <= now, availableFrom=start,
                                availableUntil=until))  # fmt: skip
    return out


def chain_now(rt: Runtime) -> int:
    try:
        stamp = rt.chain.latest_block()["timestamp"]
    except ChainError as exc:
        raise ApiError(503, "rpc_unavailable", "the chain is unreachable; the order's windows need its time") from exc
    return int(stamp, 16) if isinstance(stamp, str) else int(stamp)


def _ref(ref: str) -> str:
    text = ref.lower()
    if not text.startswith("0x") or len(text) != 66:
        raise ApiError(422, "invalid_ref", "an order ref is 0x and 64 hex digits")
    return text


@router.get("/{ref}", response_model=OrderDetail, response_model_by_alias=True)
def read_order(ref: str, rt: RuntimeDep, session: SessionDep, _key: BackendKey) -> dict[str, Any]:
    """The order's state and deadlines, and for each party what it may do now and from when (the reference model's
    ``windows`` at the latest block's time). ``anyone`` lists the permissionless timeouts."""
    order = session.get(IndexOrder, _ref(ref))
    state = session.get(IndexState, "escrow")
    if order is None or state is None:
        raise ApiError(404, "not_found", f"no indexed order {ref}")
    now = chain_now(rt)
    model, key = model_of(order, state)
    public = to_public(order)
    anyone = {Action.FINALIZE, Action.START_REVISION}
    public.update(
        now=now,
        clientActions=PartyActions(address=order.client, actions=windows(model, key, order.client, now)),
        freelancerActions=PartyActions(address=order.freelancer, actions=windows(model, key, order.freelancer, now)),
        anyone=[w for w in windows(model, key, ANYONE, now) if w.action in {camel(a.name) for a in anyone}],
    )
    return public


@router.get("/{ref}/deliveries", response_model=list[DeliveryPublic])
def read_deliveries(ref: str, session: SessionDep, _key: BackendKey) -> list[DeliveryPublic]:
    """The delivery history: index, hash, time (the block's), lateness, and the review deadline it started."""
    key = _ref(ref)
    if session.get(IndexOrder, key) is None:
        raise ApiError(404, "not_found", f"no indexed order {ref}")
    rows = session.scalars(select(IndexDelivery).where(IndexDelivery.ref == key).order_by(IndexDelivery.index))
    return [
        DeliveryPublic(
            index=d.index,
            deliverableHash=d.deliverable_hash,
            deliveredAt=d.delivered_at,
            lateness=lateness_name(d.lateness),
            reviewBy=d.review_by,
            blockNumber=d.block_number,
            txHash=d.tx_hash,
        )
        for d in rows
    ]


@router.get("", response_model=OrderPage)
def list_orders(
    session: SessionDep,
    _key: BackendKey,
    party: Annotated[str | None, Query(description="client or freelancer address")] = None,
    status: Annotated[str | None, Query(description="a Status name (e.g. Delivered) or number")] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """ "View All Orders": newest funded first, filtered by party and status; pass ``nextCursor`` for the next page."""
    query = select(IndexOrder).order_by(IndexOrder.position.desc()).limit(limit + 1)
    if party:
        if not is_address(party):
            raise ApiError(422, "invalid_address", f"party {party!r} is not an address")
        account = to_checksum_address(party)
        query = query.where(or_(IndexOrder.client == account, IndexOrder.freelancer == account))
    if status:
        names = {status_name(s).lower(): int(s) for s in Status}
        value = int(status) if status.isdigit() else names.get(status.lower().replace("_", ""))
        if value is None or value not in {int(s) for s in Status}:
            raise ApiError(422, "invalid_status", f"unknown status {status!r}; one of {', '.join(names)}")
        query = query.where(IndexOrder.status == value)
    if cursor:
        try:
            query = query.where(IndexOrder.position < int(cursor))
        except ValueError as exc:
            raise ApiError(422, "invalid_cursor", "pass the nextCursor of the previous page") from exc
    rows = list(session.scalars(query))
    page = rows[:limit]
    next_cursor = str(page[-1].position) if len(rows) > limit else None
    return OrderPage(items=[OrderPublic(**to_public(o)) for o in page], nextCursor=next_cursor)
