"""Storage functions. Each is named by the transition it makes and refuses a row in the wrong starting state.

All take a ``session`` already inside a transaction (see :func:`offchain.relayer.db.transaction`) and
keyword-only arguments. Row locks (``FOR UPDATE SKIP LOCKED``) let several relayer processes share one
PostgreSQL database; on SQLite every write transaction is ``BEGIN IMMEDIATE`` and so already exclusive.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from offchain.relayer.exceptions import InvalidTransition, RelayerError
from offchain.relayer.models import OPEN_STATES, ApiKey, Attempt, SignerNonce, Transaction, utcnow


class IdempotencyConflict(RelayerError):
    """The idempotency key was used before with a different request."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used for another request (job {job_id})")
        self.key, self.job_id = key, job_id


def request_hash(kind: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, body], sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _transition(session: Session, *, tx_ids: Sequence[str], expected: tuple[str, ...], **values: Any) -> None:
    """Move every job of ``tx_ids`` (distinct ids) from one of ``expected`` states, in one statement; if any is
    elsewhere, raise :class:`InvalidTransition` naming it (the caller rolls back, e.g. its savepoint)."""
    if not tx_ids:
        return
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Transaction).where(Transaction.id.in_(tx_ids), Transaction.state.in_(expected)).values(**values)
    )
    if result.rowcount != len(tx_ids):  # type: ignore[attr-defined]
        found = session.execute(select(Transaction.id, Transaction.state).where(Transaction.id.in_(tx_ids)))
        states = dict(found.all())
        wrong = next((i for i in tx_ids if states.get(i) not in expected), tx_ids[0])
        raise InvalidTransition("transaction", wrong, expected, states.get(wrong))


# -- jobs: creation and reads --


def find_by_idempotency_key(session: Session, *, key: str) -> Transaction | None:
    return session.scalar(select(Transaction).where(Transaction.idempotency_key == key))


def new_queued_transaction(
    *,
    idempotency_key: str,
    req_hash: str,
    kind: str,
    params: dict[str, Any],
    from_address: str,
    to_address: str,
    data: bytes,
    value: int,
    gas_limit: int,
    chain_id: int,
    api_key_id: str | None,
) -> Transaction:
    """A ``queued`` job, not yet stored (see :func:`insert_queued_transactions`)."""
    now = utcnow()
    return Transaction(
        id=str(uuid.uuid4()),
        idempotency_key=idempotency_key,
        request_hash=req_hash,
        kind=kind,
        params=json.dumps(params, sort_keys=True),
        state="queued",
        from_address=from_address,
        to_address=to_address,
        data=data,
        value=str(value),
        gas_limit=gas_limit,
        chain_id=chain_id,
        api_key_id=api_key_id,
        created_at=now,
        updated_at=now,
        attempts=[],
    )


def create_queued_transaction(session: Session, **fields: Any) -> Transaction:
    """Insert a ``queued`` job. The caller checks the idempotency key first; the unique index backs it up."""
    row = new_queued_transaction(**fields)
    session.add(row)
    session.flush()
    return row


def insert_queued_transactions(session: Session, rows: Sequence[Transaction]) -> list[bool]:
    """Insert new jobs; for each, whether it was stored (False: its idempotency key is taken, by a stored job
    or by an earlier row of ``rows``). A key another process stores meanwhile fails the unique index
    (``IntegrityError``, and the caller's transaction with it)."""
    keys = [row.idempotency_key for row in rows]
    taken = set(session.scalars(select(Transaction.idempotency_key).where(Transaction.idempotency_key.in_(keys))))
    stored: list[bool] = []
    for row in rows:
        stored.append(row.idempotency_key not in taken)
        taken.add(row.idempotency_key)
    session.add_all([row for row, ok in zip(rows, stored, strict=True) if ok])
    session.flush()
    return stored


def get_transaction(session: Session, *, tx_id: str) -> Transaction | None:
    return session.scalar(
        select(Transaction).where(Transaction.id == tx_id).options(selectinload(Transaction.attempts))
    )


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Transaction.state, func.count()).group_by(Transaction.state)).all()
    return {state: count for state, count in rows}


def in_flight_by_signer(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Transaction.from_address, func.count())
        .where(Transaction.state.in_(("in_progress", "unconfirmed", "mined")))
        .group_by(Transaction.from_address)
    ).all()
    return {address: count for address, count in rows}


# -- submitter --


def signers_with_queued(session: Session, *, signers: Sequence[str]) -> set[str]:
    """Which of ``signers`` have queued jobs (a plain read: the claim itself happens under the write lock)."""
    query = select(Transaction.from_address).where(Transaction.state == "queued", Transaction.from_address.in_(signers))
    return set(session.scalars(query.distinct()))


def claim_queued(session: Session, *, limit: int, signers: Sequence[str]) -> list[Transaction]:
    """Lock up to ``limit`` queued jobs of ``signers`` (the keys this process holds), oldest first; other
    processes skip them (``SKIP LOCKED``)."""
    query = (
        select(Transaction)
        .where(Transaction.state == "queued", Transaction.from_address.in_(signers))
        .order_by(Transaction.created_at, Transaction.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def reserve_nonces(session: Session, *, address: str, chain_id: int, count: int, chain_nonce: int) -> int:
    """Take ``count`` consecutive nonces of ``address`` and return the first.

    The row is locked until the caller's transaction ends, so two processes never get the same nonce. If the
    chain is ahead of us (someone else used the key), we realign to the chain.
    """
    row = session.scalar(
        select(SignerNonce).where(SignerNonce.address == address, SignerNonce.chain_id == chain_id).with_for_update()
    )
    if row is None:
        row = SignerNonce(address=address, chain_id=chain_id, next_nonce=chain_nonce)
        session.add(row)
        session.flush()
        row = session.scalar(
            select(SignerNonce)
            .where(SignerNonce.address == address, SignerNonce.chain_id == chain_id)
            .with_for_update()
        )
        assert row is not None
    first = max(row.next_nonce, chain_nonce)
    row.next_nonce = first + count
    return first


@dataclass(frozen=True)
class SignedAttempt:
    hash: str
    raw: bytes
    nonce: int
    gas_price: int
    priority_fee: int | None


def update_queued_to_in_progress(session: Session, *, assigned: Sequence[tuple[str, SignedAttempt]]) -> None:
    """Give queued jobs their nonces and first signed attempts, ``(job id, attempt)`` each, in the caller's
    transaction (which holds them from :func:`claim_queued`)."""
    if not assigned:
        return
    table = Transaction.__table__
    now = utcnow()
    result = session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == "queued")
        .values(state="in_progress", nonce=bindparam("b_nonce"), updated_at=now),
        [{"b_id": tx_id, "b_nonce": attempt.nonce} for tx_id, attempt in assigned],
    )
    if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount != len(assigned):  # type: ignore[attr-defined]
        raise InvalidTransition("transaction", [tx_id for tx_id, _a in assigned], ("queued",), "changed")
    add_attempts(session, [(tx_id, attempt) for tx_id, attempt in assigned])


def add_attempts(session: Session, attempts: Sequence[tuple[str, SignedAttempt]]) -> list[Attempt]:
    """Store signed attempts, ``(job id, attempt)`` each, in state ``signed``."""
    now = utcnow()
    rows = [
        Attempt(
            transaction_id=tx_id,
            hash=attempt.hash,
            raw=attempt.raw,
            nonce=attempt.nonce,
            gas_price=str(attempt.gas_price),
            priority_fee=None if attempt.priority_fee is None else str(attempt.priority_fee),
            state="signed",
            created_at=now,
        )
        for tx_id, attempt in attempts
    ]
    session.add_all(rows)
    session.flush()
    return rows


def update_attempts_signed_to_broadcast(session: Session, *, hashes: Sequence[str]) -> None:
    """Record that nodes accepted these attempts; their jobs go ``in_progress`` → ``unconfirmed``."""
    if not hashes:
        return
    now = utcnow()
    session.execute(
        update(Attempt)
        .where(Attempt.hash.in_(hashes), Attempt.state == "signed")
        .values(state="broadcast", broadcast_at=now)
    )
    tx_ids = select(Attempt.transaction_id).where(Attempt.hash.in_(hashes))
    session.execute(
        update(Transaction)
        .where(Transaction.id.in_(tx_ids), Transaction.state == "in_progress")
        .values(state="unconfirmed", broadcast_at=now, updated_at=now)
    )


def touch_attempt_broadcast(session: Session, *, hashes: Sequence[str]) -> None:
    """A rebroadcast: the attempts' clocks restart (the resender waits again before bumping)."""
    if hashes:
        session.execute(update(Attempt).where(Attempt.hash.in_(hashes)).values(broadcast_at=utcnow()))


def update_in_flight_to_queued(session: Session, *, tx_ids: Sequence[str]) -> None:
    """Our nonce went to a transaction that is not ours: drop the attempts and queue the jobs for new nonces."""
    _transition(session, tx_ids=tx_ids, expected=("in_progress", "unconfirmed"), state="queued", nonce=None)
    session.execute(update(Attempt).where(Attempt.transaction_id.in_(tx_ids)).values(state="abandoned"))


# -- confirmer --


def open_jobs(session: Session, *, states: Sequence[str], limit: int = 5000) -> list[Transaction]:
    query = (
        select(Transaction)
        .where(Transaction.state.in_(states))
        .order_by(Transaction.nonce)
        .limit(limit)
        .options(selectinload(Transaction.attempts))
    )
    return list(session.scalars(query))


def signers_in_flight(session: Session) -> list[str]:
    """Signers with a job that holds a nonce and has no final receipt."""
    query = select(Transaction.from_address).where(Transaction.state.in_(("in_progress", "unconfirmed", "mined")))
    return list(session.scalars(query.distinct()))


def jobs_to_confirm(session: Session, *, chain_nonces: dict[str, int]) -> list[Transaction]:
    """Mined jobs, and in-flight jobs whose nonce the chain has passed (mined, by us or by someone else)."""
    passed = [
        (Transaction.from_address == address) & (Transaction.nonce < nonce) for address, nonce in chain_nonces.items()
    ]
    condition = Transaction.state == "mined"
    if passed:
        condition = condition | (Transaction.state.in_(("in_progress", "unconfirmed")) & or_(*passed))
    query = select(Transaction).where(condition).order_by(Transaction.nonce).options(selectinload(Transaction.attempts))
    return list(session.scalars(query))


def jobs_not_mined(session: Session, *, chain_nonces: dict[str, int], older_than: datetime) -> list[Transaction]:
    """In-flight jobs the chain has not passed, whose latest attempt is older than ``older_than``."""
    ahead = [
        (Transaction.from_address == address) & (Transaction.nonce >= nonce) for address, nonce in chain_nonces.items()
    ]
    if not ahead:
        return []
    stale = select(Attempt.transaction_id).where(Attempt.state.in_(("signed", "broadcast")))
    stale = stale.where(func.coalesce(Attempt.broadcast_at, Attempt.created_at) < older_than)
    query = (
        select(Transaction)
        .where(Transaction.state.in_(("in_progress", "unconfirmed")), or_(*ahead), Transaction.id.in_(stale))
        .order_by(Transaction.from_address, Transaction.nonce)
        .options(selectinload(Transaction.attempts))
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Mined:
    """A job's receipt: the attempt that landed and where."""

    tx_id: str
    attempt_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int


def update_unconfirmed_to_mined(session: Session, *, mined: Sequence[Mined]) -> None:
    """Record receipts: each job goes ``mined`` and its landed attempt carries the block, gas and status."""
    if not mined:
        return
    now = utcnow()
    _transition(
        session, tx_ids=[m.tx_id for m in mined], expected=("in_progress", "unconfirmed"), state="mined", mined_at=now
    )
    table = Attempt.__table__
    session.execute(
        update(table)
        .where(table.c.hash == bindparam("b_hash"))
        .values(
            state="mined",
            block_number=bindparam("b_number"),
            block_hash=bindparam("b_block_hash"),
            gas_used=bindparam("b_gas_used"),
            receipt_status=bindparam("b_status"),
            broadcast_at=func.coalesce(table.c.broadcast_at, now),
        ),
        [
            {"b_hash": m.attempt_hash, "b_number": m.block_number, "b_block_hash": m.block_hash,
             "b_gas_used": m.gas_used, "b_status": m.status}
            for m in mined
        ],
    )  # fmt: skip


def update_mined_to_unconfirmed(session: Session, *, tx_ids: Sequence[str]) -> None:
    """The blocks holding our receipts left the canonical chain: the jobs wait (and are resent) again."""
    _transition(session, tx_ids=tx_ids, expected=("mined",), state="unconfirmed", mined_at=None)
    session.execute(
        update(Attempt)
        .where(Attempt.transaction_id.in_(tx_ids), Attempt.state == "mined")
        .values(state="broadcast", block_number=None, block_hash=None, gas_used=None, receipt_status=None,
                broadcast_at=None)
    )  # fmt: skip


def update_mined_to_confirmed(session: Session, *, tx_ids: Sequence[str]) -> None:
    _transition(session, tx_ids=tx_ids, expected=("mined",), state="confirmed", finished_at=utcnow())


def update_mined_to_failed(session: Session, *, tx_ids: Sequence[str], error: str | None, reason: str) -> None:
    """The transactions reverted and are final: a terminal state, never retried."""
    _transition(
        session,
        tx_ids=tx_ids,
        expected=("mined",),
        state="failed",
        error=error,
        error_reason=reason,
        finished_at=utcnow(),
    )


def update_queued_to_cancelled(session: Session, *, tx_id: str) -> None:
    _transition(session, tx_ids=[tx_id], expected=("queued",), state="cancelled", finished_at=utcnow())


# -- resender --


def lock_for_bump(session: Session, *, tx_id: str, latest_attempt_id: int) -> Transaction | None:
    """Lock an in-flight job for a replacement of ``latest_attempt_id``; None if another process holds it, the
    job moved on, or another replacement was made meanwhile."""
    job = session.scalar(
        select(Transaction)
        .where(Transaction.id == tx_id, Transaction.state.in_(("in_progress", "unconfirmed")))
        .with_for_update(skip_locked=True)
    )
    newest = session.scalar(select(func.max(Attempt.id)).where(Attempt.transaction_id == tx_id))
    return job if job is not None and newest == latest_attempt_id else None


# -- API keys --

SCOPES = ("backend", "arbiter", "admin")


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, scopes: Sequence[str]) -> str:
    """Create a key and return it, once, as ``te_<id>_<secret>``; only the secret's hash is stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    key_id = uuid.uuid4().hex[:16]
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, name=name, secret_hash=_hash_secret(secret), scopes=",".join(sorted(set(scopes)))))
    session.flush()
    return f"te_{key_id}_{secret}"


def verify_api_key(session: Session, *, presented: str) -> ApiKey | None:
    """The live key matching ``presented``, or None (unknown, malformed, wrong secret or revoked)."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "te":
        return None
    row = session.get(ApiKey, parts[1])
    if row is None or row.revoked_at is not None:
        return None
    if not secrets.compare_digest(row.secret_hash, _hash_secret(parts[2])):
        return None
    return row


def update_api_key_active_to_revoked(session: Session, *, name: str) -> None:
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None or row.revoked_at is not None:
        raise InvalidTransition("api key", name, ("active",), None if row is None else "revoked")
    row.revoked_at = utcnow()


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def oldest_queued_at(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Transaction.created_at)).where(Transaction.state.in_(OPEN_STATES)))
