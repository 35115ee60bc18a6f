"""Initial schema: transactions, attempts, signer_nonces, api_keys.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("from_address", sa.String(42), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.String(80), nullable=False),
        sa.Column("gas_limit", sa.BigInteger, nullable=False),
        sa.Column("chain_id", sa.BigInteger, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=True),
        sa.Column("error", sa.String(80), nullable=True),
        sa.Column("error_reason", sa.Text, nullable=True),
        sa.Column("api_key_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("broadcast_at", TS, nullable=True),
        sa.Column("mined_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_transactions_state_created", "transactions", ["state", "created_at"])
    op.create_index("ix_transactions_from_nonce", "transactions", ["from_address", "nonce"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(36), sa.ForeignKey("transactions.id"), nullable=False),
        sa.Column("hash", sa.String(66), nullable=False, unique=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("gas_price", sa.String(80), nullable=False),
        sa.Column("priority_fee", sa.String(80), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("broadcast_at", TS, nullable=True),
        sa.Column("block_number", sa.BigInteger, nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("gas_used", sa.BigInteger, nullable=True),
        sa.Column("receipt_status", sa.Integer, nullable=True),
    )
    op.create_index("ix_attempts_transaction_id", "attempts", ["transaction_id"])
    op.create_table(
        "signer_nonces",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("chain_id", sa.BigInteger, primary_key=True),
        sa.Column("next_nonce", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in ("api_keys", "signer_nonces", "attempts", "transactions"):
        op.drop_table(table)
