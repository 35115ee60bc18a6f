"""Events → rows: decode OrderEscrow logs, and project them onto orders, deliveries, reviews and payments.

The projection is a pure function of the ordered event list (plus the fee recipient before the first event), so
after a reorg the watcher deletes the orphaned events and *replays* the remaining events of the affected orders.
:class:`Projector` works on plain dicts in memory; :func:`write` puts its result in the database.

Payments (``index_payments``) are one row per money movement, per account:

============================  =========================================================================
event                         rows
============================  =========================================================================
OrderFunded                   client ``funded`` amount (paid into the escrow)
OrderCancelled / Refunded     client ``refunded`` amount (credited)
OrderCompleted                freelancer ``released`` freelancerAmount; fee recipient ``fee``
DisputeResolved               client ``refunded`` clientAmount; freelancer ``released``; recipient ``fee``
Withdrawn                     account ``withdrawn`` amount (paid out)
============================  =========================================================================

so for every (account, token): ``withdrawable = released + refunded + fee - withdrawn``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from sqlalchemy import delete
from sqlalchemy.orm import Session

from offchain.eip712 import Lateness, Status
from offchain.relayer.index.models import IndexDelivery, IndexOrder, IndexPayment, IndexReview

ZERO = "0x0000000000000000000000000000000000000000"
#: positions: block * POSITION_BLOCK + log index * 10 + n
POSITION_BLOCK = 100_000


def position(block_number: int, log_index: int, n: int = 0) -> int:
    return block_number * POSITION_BLOCK + log_index * 10 + n


# -- decoding -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data: tuple[tuple[str, str], ...]

    @property
    def static(self) -> bool:
        return all(_is_static(t) for _, t in self.data)


@dataclass
class Event:
    """A decoded log at its chain position. ``args`` holds JSON-ready values; OrderFunded gains ``terms``."""

    id: str
    block_number: int
    log_index: int
    block_hash: str
    tx_hash: str
    name: str
    ref: str | None
    args: dict[str, Any]
    block_time: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "block_number": self.block_number,
            "log_index": self.log_index,
            "block_hash": self.block_hash,
            "block_time": self.block_time,
            "tx_hash": self.tx_hash,
            "name": self.name,
            "ref": self.ref,
            "args": json.dumps(self.args, separators=(",", ":")),
        }

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(
            id=row.id,
            block_number=row.block_number,
            log_index=row.log_index,
            block_hash=row.block_hash,
            tx_hash=row.tx_hash,
            name=row.name,
            ref=row.ref,
            args=json.loads(row.args),
            block_time=row.block_time,
        )


def event_id(chain_id: int, block_hash: str, log_index: int) -> str:
    """Stable across restarts and re-indexing of the same block; different for a block that replaced it."""
    return "0x" + hashlib.sha256(f"{chain_id}:{block_hash.lower()}:{log_index}".encode()).hexdigest()


@lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    return str(to_checksum_address(address))


def _json_value(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return checksum(value)
    if abi_type.startswith("bytes"):
        return "0x" + bytes(value).hex()
    if abi_type == "uint256":
        return str(value)  # amounts: exact in JSON for every consumer
    return value


def _static_word(abi_type: str, word: bytes) -> Any:
    """A static ABI value from its 32-byte word, JSON-ready (the fast path: every escrow event is static)."""
    if abi_type == "address":
        return checksum("0x" + word[12:].hex())
    if abi_type == "bytes32":
        return "0x" + word.hex()
    if abi_type == "bool":
        return word[-1] == 1
    value = int.from_bytes(word, "big")
    return str(value) if abi_type == "uint256" else value


def _is_static(abi_type: str) -> bool:
    return abi_type in ("address", "bytes32", "bool") or (abi_type.startswith("uint") and "[" not in abi_type)


class LogDecoder:
    """Decodes the escrow's logs by topic; logs of other events (roles, pause) are skipped."""

    def __init__(self, abi: Sequence[dict[str, Any]], chain_id: int) -> None:
        self.chain_id = chain_id
        self.specs: dict[str, EventSpec] = {}
        for item in abi:
            if item.get("type") != "event":
                continue
            types = ",".join(p["type"] for p in item["inputs"])
            topic = "0x" + keccak(text=f"{item['name']}({types})").hex()
            indexed = tuple((p["name"], p["type"]) for p in item["inputs"] if p["indexed"])
            if not all(_is_static(t) for _, t in indexed):
                continue  # an indexed dynamic value is only its hash: no escrow event has one
            self.specs[topic] = EventSpec(
                item["name"], indexed, tuple((p["name"], p["type"]) for p in item["inputs"] if not p["indexed"])
            )

    def decode(self, log: dict[str, Any]) -> Event | None:
        topics = log["topics"]
        spec = self.specs.get(topics[0].lower()) if topics else None
        if spec is None or spec.name not in PROJECTED:
            return None
        args: dict[str, Any] = {}
        for (name, abi_type), topic in zip(spec.indexed, topics[1:], strict=True):
            args[name] = _static_word(abi_type, bytes.fromhex(topic[2:]))
        if spec.data:
            data = bytes.fromhex(log["data"][2:])
            if spec.static:
                for i, (name, abi_type) in enumerate(spec.data):
                    args[name] = _static_word(abi_type, data[32 * i : 32 * i + 32])
            else:
                values = decode([t for _, t in spec.data], data)
                for (name, abi_type), value in zip(spec.data, values, strict=True):
                    args[name] = _json_value(abi_type, value)
        block_hash = log["blockHash"]
        log_index = int(log["logIndex"], 16)
        event = Event(
            id=event_id(self.chain_id, block_hash, log_index),
            block_number=int(log["blockNumber"], 16),
            log_index=log_index,
            block_hash=block_hash,
            tx_hash=log["transactionHash"],
            name=spec.name,
            ref=args.get("ref"),
            args=args,
        )
        stamp = log.get("blockTimestamp")
        if stamp:
            event.block_time = int(stamp, 16)
        return event


#: event name → webhook type (every projected event is announced)
WEBHOOK_TYPES: dict[str, str] = {
    "OrderFunded": "order.funded",
    "OrderCancelled": "order.cancelled",
    "RequirementsSubmitted": "order.requirements_submitted",
    "Delivered": "order.delivered",
    "OrderCompleted": "order.completed",
    "RevisionRequested": "order.revision_requested",
    "RevisionStarted": "order.revision_started",
    "DeadlineProposed": "order.deadline_proposed",
    "DeadlineAgreed": "order.deadline_agreed",
    "RefundRequested": "order.refund_requested",
    "RefundRefused": "order.refund_refused",
    "OrderRefunded": "order.refunded",
    "DisputeOpened": "order.disputed",
    "DisputeResolved": "order.resolved",
    "Reviewed": "order.reviewed",
    "ReviewReplied": "order.review_replied",
    "SignedActionExecuted": "order.signed_action_executed",
    "Withdrawn": "account.withdrawn",
    "FeeRecipientChanged": "escrow.fee_recipient_changed",
    "TokenAllowed": "escrow.token_allowed",
}
PROJECTED = frozenset(WEBHOOK_TYPES)
REFUND_REASONS = ("SeriouslyOverdue", "AcceptedByFreelancer", "FreelancerSilent")


def order_key(event: Event) -> str:
    """Deliveries with one key go out one at a time, in chain order: per order, per account, or escrow-wide."""
    if event.ref is not None:
        return event.ref
    if event.name == "Withdrawn":
        return f"account:{event.args['account']}"
    return "escrow"


def webhook_payload(event: Event, webhook_id: str) -> dict[str, Any]:
    """The JSON body announced for ``event``; enums are given by name as well as by value."""
    data = dict(event.args)
    if event.name == "Delivered":
        data["latenessName"] = Lateness(int(data["lateness"])).name
    if event.name == "OrderRefunded":
        data["reasonName"] = REFUND_REASONS[int(data["reason"])]
    return {
        "id": webhook_id,
        "type": WEBHOOK_TYPES[event.name],
        "ref": event.ref,
        "block": {"number": event.block_number, "hash": event.block_hash, "timestamp": event.block_time},
        "txHash": event.tx_hash,
        "logIndex": event.log_index,
        "event": event.name,
        "data": data,
    }


# -- projection ---------------------------------------------------------------------------------------------


@dataclass
class Projector:
    """Applies events in chain order to in-memory rows (dicts shaped like the ORM rows)."""

    fee_recipient: str
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    #: orders whose row changed (written back by :func:`write`)
    touched: set[str] = field(default_factory=set)
    #: orders whose rows came from the database (replaced by :func:`write`; the others are new)
    loaded: set[str] = field(default_factory=set)
    emit_payments: bool = True

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def _pay(self, event: Event, n: int, kind: str, account: str, token: str, amount: str) -> None:
        if not self.emit_payments or int(amount) == 0:
            return
        self.payments.append(
            {
                "id": f"{event.id}:{n}",
                "position": position(event.block_number, event.log_index, n),
                "account": account,
                "kind": kind,
                "ref": event.ref,
                "token": token,
                "amount": amount,
                "tx_hash": event.tx_hash,
                "block_number": event.block_number,
                "block_time": event.block_time,
                "event_id": event.id,
            }
        )

    def apply(self, event: Event) -> None:
        a, name = event.args, event.name
        if name == "FeeRecipientChanged":
            self.fee_recipient = a["current"]
            return
        if name == "Withdrawn":
            self._pay(event, 0, "withdrawn", a["account"], a["token"], a["amount"])
            return
        if event.ref is None or name in ("TokenAllowed", "SignedActionExecuted"):
            return
        ref = event.ref
        if name == "OrderFunded":
            terms = a.get("terms", {})
            self.orders[ref] = {
                "ref": ref,
                "position": position(event.block_number, event.log_index),
                "client": a["client"],
                "freelancer": a["freelancer"],
                "token": a["token"],
                "amount": a["amount"],
                "fee_bps": int(terms.get("feeBps", 0)),
                "delivery_duration": int(terms.get("deliveryDuration", 0)),
                "max_revisions": int(terms.get("maxRevisions", 0)),
                "status": int(Status.AWAITING_REQUIREMENTS),
                "deliver_by": 0,
                "deadline": 0,
                "revisions_used": 0,
                "refund_refusals": 0,
                "delivery_count": 0,
                "last_lateness": 0,
                "client_rating": 0,
                "freelancer_rating": 0,
                "client_replied": False,
                "freelancer_replied": False,
                "proposer": None,
                "proposed_deliver_by": 0,
                "proposal_for": 0,
                "requirements_hash": None,
                "funded_block": event.block_number,
                "funded_at": event.block_time,
                "funded_tx": event.tx_hash,
                "updated_block": event.block_number,
                "updated_at": event.block_time,
            }
            self.touched.add(ref)
            self._pay(event, 0, "funded", a["client"], a["token"], a["amount"])
            return
        o = self.orders.get(ref)
        if o is None:  # an event of an order funded before the indexed range: nothing to project onto
            return
        self.touched.add(ref)
        o["updated_block"], o["updated_at"] = event.block_number, event.block_time
        if name == "OrderCancelled":
            o["status"] = int(Status.CANCELLED)
            self._pay(event, 0, "refunded", o["client"], o["token"], a["refunded"])
        elif name == "RequirementsSubmitted":
            o["status"], o["deliver_by"], o["requirements_hash"] = (
                int(Status.IN_PROGRESS),
                a["deliverBy"],
                a["requirementsHash"],
            )
        elif name == "Delivered":
            o["status"], o["deadline"] = int(Status.DELIVERED), a["reviewBy"]
            o["delivery_count"], o["last_lateness"] = a["index"] + 1, a["lateness"]
            self.deliveries.append(
                {
                    "ref": ref,
                    "index": a["index"],
                    "deliverable_hash": a["deliverableHash"],
                    "delivered_at": event.block_time,
                    "lateness": a["lateness"],
                    "review_by": a["reviewBy"],
                    "block_number": event.block_number,
                    "tx_hash": event.tx_hash,
                }
            )
        elif name == "OrderCompleted":
            o["status"] = int(Status.COMPLETED)
            self._pay(event, 0, "released", o["freelancer"], o["token"], a["freelancerAmount"])
            self._pay(event, 1, "fee", self.fee_recipient, o["token"], a["fee"])
        elif name == "RevisionRequested":
            o["status"], o["revisions_used"], o["deadline"] = (
                int(Status.REVISION_REQUESTED),
                a["revisionsUsed"],
                a["respondBy"],
            )
        elif name == "RevisionStarted":
            o["status"], o["deliver_by"] = int(Status.IN_REVISION), a["deliverBy"]
        elif name == "DeadlineProposed":
            o["proposer"], o["proposed_deliver_by"], o["proposal_for"] = (
                a["proposer"],
                a["newDeliverBy"],
                o["delivery_count"],
            )
        elif name == "DeadlineAgreed":
            o["deliver_by"], o["proposer"], o["proposed_deliver_by"] = a["deliverBy"], None, 0
        elif name == "RefundRequested":
            o["status"], o["deadline"] = int(Status.REFUND_REQUESTED), a["respondBy"]
        elif name == "RefundRefused":
            o["refund_refusals"] = a["refusals"]
            if a["reviewBy"]:
                o["status"], o["deadline"] = int(Status.DELIVERED), a["reviewBy"]
        elif name == "OrderRefunded":
            o["status"] = int(Status.REFUNDED)
            self._pay(event, 0, "refunded", o["client"], o["token"], a["amount"])
        elif name == "DisputeOpened":
            o["status"] = int(Status.DISPUTED)
        elif name == "DisputeResolved":
            o["status"] = int(Status.RESOLVED)
            self._pay(event, 0, "refunded", o["client"], o["token"], a["clientAmount"])
            self._pay(event, 1, "released", o["freelancer"], o["token"], a["freelancerAmount"])
            self._pay(event, 2, "fee", self.fee_recipient, o["token"], a["fee"])
        elif name == "Reviewed":
            key = "client_rating" if a["reviewer"] == o["client"] else "freelancer_rating"
            o[key] = a["rating"]
            self.reviews[(ref, a["reviewer"])] = {
                "ref": ref,
                "reviewer": a["reviewer"],
                "reviewee": a["reviewee"],
                "rating": a["rating"],
                "comment_hash": a["commentHash"],
                "reviewed_at": event.block_time,
                "reply_hash": None,
                "replied_at": None,
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
            }
        elif name == "ReviewReplied":
            replier = a["replier"]
            o["client_replied" if replier == o["client"] else "freelancer_replied"] = True
            reviewer = o["freelancer"] if replier == o["client"] else o["client"]
            review = self.reviews.get((ref, reviewer))
            if review is not None:
                review["reply_hash"], review["replied_at"] = a["replyHash"], event.block_time


def load(session: Session, projector: Projector, refs: Iterable[str]) -> None:
    """Load the current rows of ``refs`` into ``projector`` (orders and reviews; deliveries are append-only)."""
    refs = [r for r in set(refs) if r not in projector.orders]
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        for row in session.execute(IndexOrder.__table__.select().where(IndexOrder.ref.in_(chunk))).mappings():
            projector.orders[row["ref"]] = dict(row)
            projector.loaded.add(row["ref"])
        for row in session.execute(IndexReview.__table__.select().where(IndexReview.ref.in_(chunk))).mappings():
            projector.reviews[(row["ref"], row["reviewer"])] = dict(row)


def write(session: Session, projector: Projector) -> None:
    """Write the projector's touched orders and their reviews (replacing), new deliveries and payments."""
    touched = sorted(projector.touched)
    replaced = sorted(projector.touched & projector.loaded) if projector.emit_payments else touched
    for start in range(0, len(replaced), 500):
        chunk = replaced[start : start + 500]
        session.execute(delete(IndexOrder).where(IndexOrder.ref.in_(chunk)))
        session.execute(delete(IndexReview).where(IndexReview.ref.in_(chunk)))
    orders = [projector.orders[r] for r in touched if r in projector.orders]
    if orders:
        session.execute(IndexOrder.__table__.insert(), orders)
    touched_set = set(touched)
    reviews = [r for (ref, _), r in projector.reviews.items() if ref in touched_set]
    if reviews:
        session.execute(IndexReview.__table__.insert(), reviews)
    if projector.deliveries:
        session.execute(IndexDelivery.__table__.insert(), projector.deliveries)
    if projector.payments:
        session.execute(IndexPayment.__table__.insert(), projector.payments)
