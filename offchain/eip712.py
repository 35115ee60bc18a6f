"""EIP-712 messages of OrderEscrow: the typed data a wallet signs, and fast digests for our own signing.

Three types, under the domain {name "OrderEscrow", version "1", chainId, verifyingContract}:

- ``OrderTerms``: the quote the platform's quote signer signs; ``fund`` checks it.
- ``PartyAction``: a party's action that anyone may submit (``executeWithSig``); also the client's
  consent for ``fundWithSig`` (action ``Fund``, args ``abi.encode(hashOrderTerms(terms))``, nonce 0,
  deadline = quoteExpiry).
- ``Settlement``: a split both parties of a disputed order sign (``settle``).

:func:`typed_data` builds the JSON a wallet's ``eth_signTypedData_v4`` takes; the ``*_digest``
functions compute the same 32-byte digest directly (much faster, for the relayer and the tests).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

DOMAIN_NAME = "OrderEscrow"
DOMAIN_VERSION = "1"


class Status(IntEnum):
    NONE = 0
    AWAITING_REQUIREMENTS = 1
    IN_PROGRESS = 2
    DELIVERED = 3
    REVISION_REQUESTED = 4
    IN_REVISION = 5
    REFUND_REQUESTED = 6
    DISPUTED = 7
    COMPLETED = 8
    CANCELLED = 9
    REFUNDED = 10
    RESOLVED = 11

    @property
    def final(self) -> bool:
        return self >= Status.COMPLETED


class Lateness(IntEnum):
    NONE = 0
    ON_TIME = 1
    OVERDUE = 2
    SERIOUSLY_OVERDUE = 3


class Action(IntEnum):
    CANCEL = 0
    SUBMIT_REQUIREMENTS = 1
    DELIVER = 2
    REFUND_OVERDUE = 3
    ACCEPT = 4
    FINALIZE = 5
    REQUEST_REVISION = 6
    ACKNOWLEDGE_REVISION = 7
    START_REVISION = 8
    PROPOSE_DEADLINE = 9
    AGREE_DEADLINE = 10
    REQUEST_REFUND = 11
    ACCEPT_REFUND = 12
    REFUSE_REFUND = 13
    CLAIM_REFUND = 14
    OPEN_DISPUTE = 15
    RESOLVE_DISPUTE = 16
    SETTLE = 17
    REVIEW = 18
    REPLY_TO_REVIEW = 19
    FUND = 20


def actions_in(mask: int) -> set[Action]:
    """The actions whose bits are set in an ``availableActions`` mask."""
    return {a for a in Action if mask >> a & 1}


ORDER_TERMS_FIELDS: list[dict[str, str]] = [
    {"name": "orderRef", "type": "bytes32"},
    {"name": "client", "type": "address"},
    {"name": "freelancer", "type": "address"},
    {"name": "token", "type": "address"},
    {"name": "amount", "type": "uint256"},
    {"name": "feeBps", "type": "uint16"},
    {"name": "deliveryDuration", "type": "uint32"},
    {"name": "maxRevisions", "type": "uint8"},
    {"name": "quoteExpiry", "type": "uint64"},
]
PARTY_ACTION_FIELDS: list[dict[str, str]] = [
    {"name": "party", "type": "address"},
    {"name": "action", "type": "uint8"},
    {"name": "orderRef", "type": "bytes32"},
    {"name": "args", "type": "bytes"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
SETTLEMENT_FIELDS: list[dict[str, str]] = [
    {"name": "orderRef", "type": "bytes32"},
    {"name": "freelancerBps", "type": "uint16"},
]
DOMAIN_FIELDS: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _type_string(name: str, fields: list[dict[str, str]]) -> bytes:
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in fields)})".encode()


ORDER_TERMS_TYPEHASH = keccak(_type_string("OrderTerms", ORDER_TERMS_FIELDS))
PARTY_ACTION_TYPEHASH = keccak(_type_string("PartyAction", PARTY_ACTION_FIELDS))
SETTLEMENT_TYPEHASH = keccak(_type_string("Settlement", SETTLEMENT_FIELDS))
_DOMAIN_TYPEHASH = keccak(_type_string("EIP712Domain", DOMAIN_FIELDS))


@dataclass(frozen=True)
class OrderTerms:
    """The ``OrderTerms`` struct, field for field; ``astuple`` gives the contract call argument."""

    orderRef: bytes
    client: str
    freelancer: str
    token: str
    amount: int
    feeBps: int
    deliveryDuration: int
    maxRevisions: int
    quoteExpiry: int

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)

    def as_message(self) -> dict[str, Any]:
        return {
            "orderRef": "0x" + self.orderRef.hex(),
            "client": self.client,
            "freelancer": self.freelancer,
            "token": self.token,
            "amount": self.amount,
            "feeBps": self.feeBps,
            "deliveryDuration": self.deliveryDuration,
            "maxRevisions": self.maxRevisions,
            "quoteExpiry": self.quoteExpiry,
        }


@dataclass(frozen=True)
class PartyAction:
    party: str
    action: Action
    orderRef: bytes
    args: bytes
    nonce: int
    deadline: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.party, int(self.action), self.orderRef, self.args, self.nonce, self.deadline)

    def as_message(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "action": int(self.action),
            "orderRef": "0x" + self.orderRef.hex(),
            "args": "0x" + self.args.hex(),
            "nonce": self.nonce,
            "deadline": self.deadline,
        }


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: str

    def separator(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    _DOMAIN_TYPEHASH,
                    keccak(text=DOMAIN_NAME),
                    keccak(text=DOMAIN_VERSION),
                    self.chain_id,
                    self.verifying_contract,
                ],
            )
        )

    def as_message(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def hash_order_terms(terms: OrderTerms) -> bytes:
    """The struct hash (``hashOrderTerms`` on-chain)."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "address", "address", "address", "uint256", "uint16", "uint32", "uint8", "uint64"],
            [ORDER_TERMS_TYPEHASH, *terms.as_tuple()],
        )
    )


def hash_party_action(action: PartyAction) -> bytes:
    return keccak(
        encode(
            ["bytes32", "address", "uint8", "bytes32", "bytes32", "uint256", "uint256"],
            [
                PARTY_ACTION_TYPEHASH,
                action.party,
                int(action.action),
                action.orderRef,
                keccak(action.args),
                action.nonce,
                action.deadline,
            ],
        )
    )


def hash_settlement(order_ref: bytes, freelancer_bps: int) -> bytes:
    return keccak(encode(["bytes32", "bytes32", "uint16"], [SETTLEMENT_TYPEHASH, order_ref, freelancer_bps]))


def digest(domain: Domain, struct_hash: bytes) -> bytes:
    """The EIP-712 digest ``keccak(0x1901 ‖ domainSeparator ‖ structHash)``."""
    return keccak(b"\x19\x01" + domain.separator() + struct_hash)


def terms_digest(domain: Domain, terms: OrderTerms) -> bytes:
    return digest(domain, hash_order_terms(terms))


def action_digest(domain: Domain, action: PartyAction) -> bytes:
    return digest(domain, hash_party_action(action))


def settlement_digest(domain: Domain, order_ref: bytes, freelancer_bps: int) -> bytes:
    return digest(domain, hash_settlement(order_ref, freelancer_bps))


def fund_consent(terms: OrderTerms) -> PartyAction:
    """The ``PartyAction`` a client signs to let anyone fund ``terms`` for it with ``fundWithSig``."""
    return PartyAction(
        party=terms.client,
        action=Action.FUND,
        orderRef=terms.orderRef,
        args=encode(["bytes32"], [hash_order_terms(terms)]),
        nonce=0,
        deadline=terms.quoteExpiry,
    )


def encode_args(action: Action, *values: Any) -> bytes:
    """ABI-encode a signed action's arguments after the ref (none, a bytes32, a date, or rating+comment)."""
    if action in (Action.PROPOSE_DEADLINE, Action.AGREE_DEADLINE):
        return encode(["uint64"], list(values))
    if action == Action.REVIEW:
        return encode(["uint8", "bytes32"], list(values))
    if not values:
        return b""
    return encode(["bytes32"], list(values))


def typed_data(domain: Domain, primary_type: str, message: dict[str, Any]) -> dict[str, Any]:
    """The ``eth_signTypedData_v4`` JSON for a message of ``primary_type``."""
    fields = {"OrderTerms": ORDER_TERMS_FIELDS, "PartyAction": PARTY_ACTION_FIELDS, "Settlement": SETTLEMENT_FIELDS}
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, primary_type: fields[primary_type]},
        "primaryType": primary_type,
        "domain": domain.as_message(),
        "message": message,
    }


def sign_digest(private_key: bytes | str, message_digest: bytes) -> bytes:
    """A 65-byte r‖s‖v signature over an EIP-712 digest."""
    signed = Account.unsafe_sign_hash(message_digest, private_key)
    return bytes(signed.signature)
