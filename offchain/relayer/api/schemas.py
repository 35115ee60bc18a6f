"""Request and response bodies of the API (apart from the database rows in :mod:`offchain.relayer.models`).

Validation messages name the field: addresses must be EIP-55 checksummed, hex strings have fixed lengths,
integers are range-checked against their Solidity types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from offchain.eip712 import Action

UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1
MAX_FEE_BPS = 2_000


def _checksummed(value: str) -> str:
    if not (len(value) == 42 and value.startswith("0x")):
        raise ValueError("an address is 0x followed by 40 hex digits")
    try:
        expected = to_checksum_address(value)
    except ValueError:
        raise ValueError("an address is 0x followed by 40 hex digits") from None
    if value != expected:
        raise ValueError(f"not an EIP-55 checksummed address (expected {expected})")
    return value


def _hex(length: int | None, *, at_most: int | None = None) -> Any:
    def check(value: str) -> str:
        if not value.startswith("0x"):
            raise ValueError("must be 0x-prefixed hex")
        body = value[2:]
        try:
            bytes.fromhex(body)
        except ValueError:
            raise ValueError("must be an even number of hex digits after 0x") from None
        if length is not None and len(body) != 2 * length:
            raise ValueError(f"must be exactly {length} bytes (0x + {2 * length} hex digits), got {len(body) // 2}")
        if at_most is not None and len(body) > 2 * at_most:
            raise ValueError(f"must be at most {at_most} bytes")
        return value.lower()

    return AfterValidator(check)


Address = Annotated[str, AfterValidator(_checksummed), Field(examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])]
Bytes32 = Annotated[str, _hex(32), Field(examples=["0x" + "ab" * 32])]
Signature = Annotated[str, _hex(None, at_most=2048), Field(min_length=4, description="65-byte ECDSA or ERC-1271 bytes")]
HexBytes = Annotated[str, _hex(None, at_most=4096)]
Uint256 = Annotated[int, Field(ge=0, le=UINT256_MAX)]
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]
Bps = Annotated[int, Field(ge=0, le=10_000)]

SIGNABLE = tuple(
    a.name for a in Action if a not in (Action.FUND, Action.FINALIZE, Action.START_REVISION, Action.RESOLVE_DISPUTE,
                                         Action.SETTLE)
)  # fmt: skip
ActionName = Literal[SIGNABLE]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TermsFields(Strict):
    """The fields of ``OrderTerms`` the platform prices (the quote's expiry differs by use)."""

    orderRef: Bytes32
    client: Address
    freelancer: Address
    token: Address
    amount: Annotated[int, Field(ge=1, le=2**96 - 1)]
    feeBps: Annotated[int, Field(ge=0, le=MAX_FEE_BPS)]
    deliveryDuration: Annotated[int, Field(ge=1, le=2**32 - 1)]
    maxRevisions: Annotated[int, Field(ge=0, le=255)]


class QuoteCreate(_TermsFields):
    """Terms of a new order for the quote signer to sign."""

    quoteExpiry: Uint64 | None = Field(default=None, description="unix time; default: now + the quote TTL")


class OrderTermsBody(_TermsFields):
    """Signed terms, as ``fund`` and ``fundWithSig`` take them."""

    quoteExpiry: Uint64


class QuotePublic(BaseModel):
    terms: OrderTermsBody
    signature: str
    typedData: dict[str, Any]
    digest: str


class SignedActionCreate(Strict):
    """A party's EIP-712 ``PartyAction`` and its signature, for ``executeWithSig``."""

    party: Address
    action: ActionName
    orderRef: Bytes32
    args: HexBytes = "0x"
    nonce: Uint256
    deadline: Uint256
    signature: Signature


class RulingCreate(Strict):
    orderRef: Bytes32
    freelancerBps: Bps


class SettlementCreate(Strict):
    orderRef: Bytes32
    freelancerBps: Bps
    clientSignature: Signature
    freelancerSignature: Signature


class FundingCreate(Strict):
    """``fundWithSig``: BEP-20 orders only; the client's consent signature is a ``PartyAction`` of kind Fund."""

    terms: OrderTermsBody
    quoteSignature: Signature
    clientSignature: Signature


class TimeoutCreate(Strict):
    orderRef: Bytes32
    action: Literal["finalize", "startRevision"]


class AttemptPublic(BaseModel):
    hash: str
    nonce: int
    gasPrice: str
    priorityFee: str | None
    state: str
    blockNumber: int | None
    blockHash: str | None
    gasUsed: int | None
    status: int | None
    confirmations: int | None


class JobPublic(BaseModel):
    id: str
    kind: str
    state: str
    idempotencyKey: str
    params: dict[str, Any]
    from_: str = Field(alias="from")
    to: str
    nonce: int | None
    error: str | None
    errorReason: str | None
    createdAt: datetime
    updatedAt: datetime
    attempts: list[AttemptPublic]

    model_config = ConfigDict(populate_by_name=True)


class ErrorBody(BaseModel):
    code: str
    message: str
