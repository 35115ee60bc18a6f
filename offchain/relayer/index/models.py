"""Index rows, on the relayer's shared :class:`~offchain.relayer.models.Base` (migration ``0002_index``).

Chain position::

    index_state (one row per escrow) ── the checkpoint: last block processed and its hash
    index_blocks                     ── hashes (and times) of recent blocks and of blocks with events
    index_events                     ── every decoded OrderEscrow log, id = f(chain, block hash, log index)

Projections of the events (rebuilt for the affected orders when a reorg rolls events back)::

    index_orders ── index_deliveries, index_reviews        index_payments (one row per money movement)

Webhooks::

    webhook_endpoints ─┐
    webhook_events ────┴── webhook_deliveries (pending → delivered | dead) ── webhook_attempts (every try)

Amounts are decimal strings (uint256 does not fit a BIGINT); times are Unix seconds as the chain has them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from offchain.relayer.models import Base, utcnow


class IndexState(Base):
    """The watcher's checkpoint and what it read once from the deployment."""

    __tablename__ = "index_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))
    start_block: Mapped[int] = mapped_column(BigInteger)
    #: the last block whose events are all in the index (start_block - 1 before the first range)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    initial_fee_recipient: Mapped[str] = mapped_column(String(42))
    #: the fee recipient after the last indexed block (initial, or the last FeeRecipientChanged)
    fee_recipient: Mapped[str] = mapped_column(String(42))
    response_window: Mapped[int] = mapped_column(BigInteger)
    review_period: Mapped[int] = mapped_column(BigInteger)
    serious_delay: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexBlock(Base):
    __tablename__ = "index_blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IndexEvent(Base):
    """One OrderEscrow log, decoded; ``args`` is JSON (amounts as decimal strings, bytes as 0x-hex)."""

    __tablename__ = "index_events"

    id: Mapped[str] = mapped_column(String(66), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    name: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str | None] = mapped_column(String(66), nullable=True)
    args: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("block_number", "log_index", name="uq_index_events_position"),
        Index("ix_index_events_ref", "ref", "block_number", "log_index"),
    )


class IndexOrder(Base):
    """An order as the chain has it after the indexed events (``getOrder`` plus times and the proposal)."""

    __tablename__ = "index_orders"

    ref: Mapped[str] = mapped_column(String(66), primary_key=True)
    #: funding position (block * 100000 + log index): the stable sort key of "View All Orders"
    position: Mapped[int] = mapped_column(BigInteger, unique=True)
    client: Mapped[str] = mapped_column(String(42), index=True)
    freelancer: Mapped[str] = mapped_column(String(42), index=True)
    token: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str] = mapped_column(String(80))
    fee_bps: Mapped[int] = mapped_column(Integer)
    delivery_duration: Mapped[int] = mapped_column(BigInteger)
    max_revisions: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer, index=True)
    deliver_by: Mapped[int] = mapped_column(BigInteger, default=0)
    #: reviewBy while Delivered, respondBy while RevisionRequested/RefundRequested (the contract's one deadline)
    deadline: Mapped[int] = mapped_column(BigInteger, default=0)
    revisions_used: Mapped[int] = mapped_column(Integer, default=0)
    refund_refusals: Mapped[int] = mapped_column(Integer, default=0)
    delivery_count: Mapped[int] = mapped_column(Integer, default=0)
    last_lateness: Mapped[int] = mapped_column(Integer, default=0)
    client_rating: Mapped[int] = mapped_column(Integer, default=0)
    freelancer_rating: Mapped[int] = mapped_column(Integer, default=0)
    client_replied: Mapped[bool] = mapped_column(Boolean, default=False)
    freelancer_replied: Mapped[bool] = mapped_column(Boolean, default=False)
    proposer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    proposed_deliver_by: Mapped[int] = mapped_column(BigInteger, default=0)
    proposal_for: Mapped[int] = mapped_column(Integer, default=0)
    requirements_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    funded_block: Mapped[int] = mapped_column(BigInteger)
    funded_at: Mapped[int] = mapped_column(BigInteger)
    funded_tx: Mapped[str] = mapped_column(String(66))
    updated_block: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_index_orders_status_deadline", "status", "deadline"),)


class IndexDelivery(Base):
    __tablename__ = "index_deliveries"

    ref: Mapped[str] = mapped_column(String(66), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    deliverable_hash: Mapped[str] = mapped_column(String(66))
    delivered_at: Mapped[int] = mapped_column(BigInteger)
    lateness: Mapped[int] = mapped_column(Integer)
    review_by: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class IndexReview(Base):
    __tablename__ = "index_reviews"

    ref: Mapped[str] = mapped_column(String(66), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(42), primary_key=True)
    reviewee: Mapped[str] = mapped_column(String(42), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment_hash: Mapped[str] = mapped_column(String(66))
    reviewed_at: Mapped[int] = mapped_column(BigInteger)
    reply_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    replied_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


#: kinds of ``index_payments.kind``: money into the escrow, credits out of an order, and withdrawals
PAYMENT_KINDS = ("funded", "released", "refunded", "fee", "withdrawn")


class IndexPayment(Base):
    """One money movement of one account: funded (paid in), released/refunded/fee (credited), withdrawn."""

    __tablename__ = "index_payments"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # event id + ":" + kind
    position: Mapped[int] = mapped_column(BigInteger)  # block * 100000 + log index * 10 + n
    account: Mapped[str] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str | None] = mapped_column(String(66), nullable=True)
    token: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str] = mapped_column(String(80))
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(66))

    __table_args__ = (
        Index("ix_index_payments_account_position", "account", "position"),
        Index("ix_index_payments_block", "block_number"),
    )


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookEvent(Base):
    """One notification, in the order it was produced (``seq``); ``id`` is stable across restarts."""

    __tablename__ = "webhook_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(80), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    #: deliveries with the same key (the order ref, or ``account:<address>``) are sent one at a time, in seq order
    order_key: Mapped[str] = mapped_column(String(80))
    ref: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: ``webhook_deliveries.state``: pending (to send, maybe after a backoff) → delivered | dead (dead-letter list)
DELIVERY_STATES = ("pending", "delivered", "dead")


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(String(36))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    order_key: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Unix seconds (float): when the next try may start / until when a worker holds it
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    leased_until: Mapped[float] = mapped_column(Float, default=0.0)
    first_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_seq", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_queue", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "order_key", "state", "event_seq"),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)


class WebhookJobState(Base):
    """The last state of each relayer job that was announced, so every job state change is sent once."""

    __tablename__ = "webhook_job_states"

    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
