"""Database rows. Transactions (jobs) and their attempts are separate tables with string states.

Transaction states (``transactions.state``)::

    queued ──► in_progress ──► unconfirmed ──► mined ──► confirmed
      │            │  ▲             │  ▲         │
      ▼            │  └─(requeue)───┘  └─(reorg)─┘──► failed (reverted at depth, or doomed before sending)
    cancelled      └──► queued (nonce taken by someone else: realigned)

- ``queued``: accepted, no nonce yet (only here may a job be cancelled).
- ``in_progress``: a nonce is assigned and an attempt is signed and stored, maybe not broadcast yet.
- ``unconfirmed``: broadcast; no receipt seen yet.
- ``mined``: a receipt exists, fewer than ``confirmations`` blocks deep.
- ``confirmed`` / ``failed`` / ``cancelled``: terminal.

Attempt states (``attempts.state``): ``signed`` (stored, not yet accepted by a node), ``broadcast``,
``mined`` (its receipt is the job's), ``abandoned`` (its nonce went to someone else).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

TERMINAL_STATES = ("confirmed", "failed", "cancelled")
OPEN_STATES = ("queued", "in_progress", "unconfirmed", "mined")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time with its zone: times are stored in UTC, and SQLite hands them back without the zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Transaction(Base):
    """One job: an action the relayer sends until it is confirmed or has failed for good."""

    __tablename__ = "transactions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[str] = mapped_column(Text)  # the request, as JSON
    state: Mapped[str] = mapped_column(String(16), default="queued")
    from_address: Mapped[str] = mapped_column(String(42))
    to_address: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[str] = mapped_column(String(80), default="0")
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    api_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    broadcast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    mined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    attempts: Mapped[list[Attempt]] = relationship(back_populates="transaction", order_by="Attempt.id")

    __table_args__ = (
        Index("ix_transactions_state_created", "state", "created_at"),
        Index("ix_transactions_from_nonce", "from_address", "nonce"),
    )


class Attempt(Base):
    """One signed transaction for a job's nonce; replacements are further attempts with a higher price."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("transactions.id"), index=True)
    hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[int] = mapped_column(BigInteger)
    gas_price: Mapped[str] = mapped_column(String(80))  # legacy price, or maxFeePerGas
    priority_fee: Mapped[str | None] = mapped_column(String(80), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="signed")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    broadcast_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    receipt_status: Mapped[int | None] = mapped_column(Integer, nullable=True)

    transaction: Mapped[Transaction] = relationship(back_populates="attempts")


class SignerNonce(Base):
    """The next nonce the relayer will give a transaction of ``address`` on ``chain_id``."""

    __tablename__ = "signer_nonces"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    """An API key: only the SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("name"),)
