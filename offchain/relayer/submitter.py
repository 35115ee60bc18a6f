"""The submitter: queued jobs → nonce + signed attempt (one database transaction) → broadcast.

Guarantees: a job gets a nonce and its first signed attempt atomically, in the same database transaction that
takes the signer's nonce row lock, so no two jobs (in any process) share a nonce and no nonce is lost in a
crash: a signed attempt is on disk before it is sent, and on start leftover ``in_progress`` jobs are sent
first, with exactly the bytes that were stored. Jobs are pipelined: a batch is broadcast without waiting for
any receipt.

Leaves to the others: whether the transaction lands (the confirmer), what to do if a node refused it, dropped
it, or it is priced too low (the resender rebroadcasts and bumps). This does not guarantee delivery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select

from offchain.relayer import store
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import AlreadyKnown, ChainError, NonceTooLow, RelayerError
from offchain.relayer.fees import Fees, build_transaction, current_fees
from offchain.relayer.metrics import BROADCASTS
from offchain.relayer.models import Attempt, Transaction
from offchain.relayer.runtime import Runtime
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)


def broadcast(rt: Runtime, attempts: Sequence[tuple[str, bytes]]) -> list[str]:
    """Send (hash, raw) pairs in the given order; returns the hashes a node accepted or already knew.

    Refusals are only logged here: ``nonce too low`` is the confirmer's to reconcile, a low price the
    resender's to bump. An unreachable node raises :class:`RpcUnavailable` (the resender sends again later).
    """
    if not attempts:
        return []
    results = rt.chain.send_raw_many([raw for _hash, raw in attempts])
    accepted: list[str] = []
    for (tx_hash, _raw), result in zip(attempts, results, strict=True):
        if isinstance(result, str | AlreadyKnown):
            accepted.append(tx_hash)
            BROADCASTS.labels("accepted").inc()
        elif isinstance(result, NonceTooLow):
            BROADCASTS.labels("nonce_too_low").inc()
            log.info("nonce too low for %s; the confirmer reconciles", tx_hash, extra={"tx_hash": tx_hash})
        elif isinstance(result, ChainError):
            BROADCASTS.labels(type(result).__name__).inc()
            log.warning("node refused %s: %s", tx_hash, result, extra={"tx_hash": tx_hash})
    with transaction(rt.sessions) as session:
        store.update_attempts_signed_to_broadcast(session, hashes=accepted)
    if accepted:
        rt.notify("sent")
    return accepted


class Submitter(Worker):
    """queued → in_progress (nonce, signed attempt) → unconfirmed (a node accepted it)."""

    name = "submitter"
    wake_on = "queued"

    def start(self) -> None:
        try:
            self.resume_in_progress()
        except RelayerError as exc:  # e.g. the node is down: the resender sends them once it is back
            log.warning("could not resume in-progress attempts yet: %s", exc)
        super().start()

    def resume_in_progress(self) -> int:
        """Send again, in nonce order, every stored attempt a crash may have kept from the node."""
        with transaction(self.rt.sessions) as session:
            rows = session.execute(
                select(Attempt.hash, Attempt.raw)
                .join(Transaction, Transaction.id == Attempt.transaction_id)
                .where(Transaction.state == "in_progress", Attempt.state.in_(("signed", "broadcast")))
                .order_by(Transaction.from_address, Attempt.nonce, Attempt.id)
            ).all()
        if rows:
            log.info("resuming %d in-progress attempts", len(rows))
            broadcast(self.rt, [(h, bytes(r)) for h, r in rows])
        return len(rows)

    def linger(self, busy: int) -> float:
        """Under load, wait a moment so that the next batch holds several jobs (a full batch goes on at once)."""
        return 0.0 if busy >= self.rt.settings.batch_size else self.rt.settings.submit_linger_seconds

    def run_once(self) -> int:
        rt = self.rt
        ours = [s.address for s in rt.signers.values()]
        with rt.sessions() as session:
            waiting = store.signers_with_queued(session, signers=ours)
        if not waiting:
            return 0
        # read from the node before taking the write lock: the API's writers should not wait on an RPC round trip
        # (a nonce read a moment early is only lower; reserve_nonces takes the larger of it and our own counter)
        fees = current_fees(rt.chain, rt.settings)
        chain_nonces = {address: rt.chain.nonce(address, "latest") for address in waiting}
        signed: list[tuple[str, bytes]] = []
        with transaction(rt.sessions) as session:
            jobs = store.claim_queued(session, limit=rt.settings.batch_size, signers=ours)
            by_signer: dict[str, list[Transaction]] = defaultdict(list)
            for job in jobs:
                by_signer[job.from_address].append(job)
            for address, group in by_signer.items():
                if address not in chain_nonces:
                    chain_nonces[address] = rt.chain.nonce(address, "latest")
                first = store.reserve_nonces(
                    session, address=address, chain_id=rt.chain_id, count=len(group), chain_nonce=chain_nonces[address]
                )
                assigned = [(job.id, sign_attempt(rt, job, nonce=first + i, fees=fees)) for i, job in enumerate(group)]
                store.update_queued_to_in_progress(session, assigned=assigned)
                signed += [(attempt.hash, attempt.raw) for _id, attempt in assigned]
        broadcast(rt, signed)
        return len(signed)


def sign_attempt(rt: Runtime, job: Transaction, *, nonce: int, fees: Fees) -> store.SignedAttempt:
    tx = build_transaction(
        to=job.to_address,
        data=bytes(job.data),
        value=int(job.value),
        gas=job.gas_limit,
        nonce=nonce,
        chain_id=job.chain_id,
        fees=fees,
    )
    raw, tx_hash = rt.signer(job.from_address, "the job's signer").sign_transaction(tx)
    return store.SignedAttempt(
        hash=tx_hash, raw=raw, nonce=nonce, gas_price=fees.gas_price, priority_fee=fees.priority_fee
    )
