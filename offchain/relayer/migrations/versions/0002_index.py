"""The chain index and webhooks: checkpoint, blocks, events, orders, deliveries, reviews, payments, webhooks.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "webhook_job_states",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_events",
    "webhook_endpoints",
    "index_payments",
    "index_reviews",
    "index_deliveries",
    "index_orders",
    "index_events",
    "index_blocks",
    "index_state",
)


def upgrade() -> None:
    op.create_table(
        "index_blocks",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "index_deliveries",
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("deliverable_hash", sa.String(length=66), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=False),
        sa.Column("lateness", sa.Integer(), nullable=False),
        sa.Column("review_by", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("ref", "index"),
    )
    op.create_table(
        "index_events",
        sa.Column("id", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=True),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("block_number", "log_index", name="uq_index_events_position"),
    )
    op.create_index("ix_index_events_ref", "index_events", ["ref", "block_number", "log_index"], unique=False)
    op.create_table(
        "index_orders",
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("client", sa.String(length=42), nullable=False),
        sa.Column("freelancer", sa.String(length=42), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("delivery_duration", sa.BigInteger(), nullable=False),
        sa.Column("max_revisions", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("deliver_by", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("revisions_used", sa.Integer(), nullable=False),
        sa.Column("refund_refusals", sa.Integer(), nullable=False),
        sa.Column("delivery_count", sa.Integer(), nullable=False),
        sa.Column("last_lateness", sa.Integer(), nullable=False),
        sa.Column("client_rating", sa.Integer(), nullable=False),
        sa.Column("freelancer_rating", sa.Integer(), nullable=False),
        sa.Column("client_replied", sa.Boolean(), nullable=False),
        sa.Column("freelancer_replied", sa.Boolean(), nullable=False),
        sa.Column("proposer", sa.String(length=42), nullable=True),
        sa.Column("proposed_deliver_by", sa.BigInteger(), nullable=False),
        sa.Column("proposal_for", sa.Integer(), nullable=False),
        sa.Column("requirements_hash", sa.String(length=66), nullable=True),
        sa.Column("funded_block", sa.BigInteger(), nullable=False),
        sa.Column("funded_at", sa.BigInteger(), nullable=False),
        sa.Column("funded_tx", sa.String(length=66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ref"),
        sa.UniqueConstraint("position"),
    )
    op.create_index(op.f("ix_index_orders_client"), "index_orders", ["client"], unique=False)
    op.create_index(op.f("ix_index_orders_freelancer"), "index_orders", ["freelancer"], unique=False)
    op.create_index(op.f("ix_index_orders_status"), "index_orders", ["status"], unique=False)
    op.create_index("ix_index_orders_status_deadline", "index_orders", ["status", "deadline"], unique=False)
    op.create_table(
        "index_payments",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=True),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.String(length=80), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_index_payments_account_position", "index_payments", ["account", "position"], unique=False)
    op.create_index("ix_index_payments_block", "index_payments", ["block_number"], unique=False)
    op.create_table(
        "index_reviews",
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("reviewer", sa.String(length=42), nullable=False),
        sa.Column("reviewee", sa.String(length=42), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment_hash", sa.String(length=66), nullable=False),
        sa.Column("reviewed_at", sa.BigInteger(), nullable=False),
        sa.Column("reply_hash", sa.String(length=66), nullable=True),
        sa.Column("replied_at", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("ref", "reviewer"),
    )
    op.create_index(op.f("ix_index_reviews_reviewee"), "index_reviews", ["reviewee"], unique=False)
    op.create_table(
        "index_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("start_block", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("initial_fee_recipient", sa.String(length=42), nullable=False),
        sa.Column("fee_recipient", sa.String(length=42), nullable=False),
        sa.Column("response_window", sa.BigInteger(), nullable=False),
        sa.Column("review_period", sa.BigInteger(), nullable=False),
        sa.Column("serious_delay", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("order_key", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("leased_until", sa.Float(), nullable=False),
        sa.Column("first_attempt_at", sa.Float(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint_id", "event_seq", name="uq_webhook_deliveries_endpoint_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_order",
        "webhook_deliveries",
        ["endpoint_id", "order_key", "state", "event_seq"],
        unique=False,
    )
    op.create_index("ix_webhook_deliveries_queue", "webhook_deliveries", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("order_key", sa.String(length=80), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "webhook_job_states",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
