"""The confirmer: receipts, confirmation depth, reorgs, and nonces someone else used.

Guarantees: a job becomes ``confirmed`` or ``failed`` only once its receipt is ``confirmations`` blocks deep
and its block is still canonical; a receipt whose block left the chain sends the job back to
``unconfirmed`` (the resender sends it again). A revert is terminal (``failed`` with the decoded custom
error) and never retried. A job whose nonce is below the chain's nonce for its signer but none of whose
attempts has a receipt lost its nonce to another transaction: it is queued again for a new nonce.

Leaves to the others: sending (submitter) and re-sending or re-pricing what is not mined (resender).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from offchain.relayer import store
from offchain.relayer.chain import Receipt, RpcErrorReply, revert_data
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import InvalidTransition
from offchain.relayer.metrics import FAILURES, IN_FLIGHT, QUEUE_DEPTH, REALIGNS, REORGS, TIME_TO_CONFIRM
from offchain.relayer.models import Transaction, as_utc, utcnow
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)
LIVE_ATTEMPTS = ("signed", "broadcast", "mined")
T = TypeVar("T")


def _in_savepoint(session: Session, transition: Callable[..., None], arguments: dict[str, Any]) -> bool:
    """``transition(session, **arguments)`` inside a savepoint; False (rolled back) if a row was elsewhere."""
    nested = session.begin_nested()
    try:
        transition(session, **arguments)
    except InvalidTransition as exc:
        nested.rollback()
        log.info("skipped: %s", exc)
        return False
    nested.commit()
    return True


class Confirmer(Worker):
    """in_progress/unconfirmed → mined → confirmed | failed; mined → unconfirmed on a reorg."""

    name = "confirmer"
    wake_on = "sent"

    def run_once(self) -> int:
        rt = self.rt
        with rt.sessions() as session:
            signers = store.signers_in_flight(session)
            self._export_gauges(session)
        if not signers:
            return 0
        head = rt.chain.block_number()
        chain_nonces = {a: rt.chain.nonce(a, "latest") for a in signers}
        with rt.sessions() as session:
            jobs = store.jobs_to_confirm(session, chain_nonces=chain_nonces)
        if not jobs:
            return 0
        pending = [
            j for j in jobs if j.state != "mined" and j.nonce is not None and j.nonce < chain_nonces[j.from_address]
        ]
        receipts = rt.chain.receipts([a.hash for j in pending for a in j.attempts if a.state in LIVE_ATTEMPTS])
        mined: list[tuple[Transaction, Receipt]] = []
        lost: list[Transaction] = []
        for job in pending:
            found = next((receipts[a.hash] for a in job.attempts if receipts.get(a.hash)), None)
            if found is not None:
                mined.append((job, found))
            elif not any(rt.chain.known(a.hash) for a in job.attempts if a.state in LIVE_ATTEMPTS):
                lost.append(job)
        # mined rows and their blocks
        already = [(j, a) for j in jobs if j.state == "mined" for a in j.attempts if a.state == "mined"]
        numbers = sorted({r.block_number for _j, r in mined} | {a.block_number for _j, a in already if a.block_number})
        canonical = rt.chain.block_hashes(numbers) if numbers else {}
        depth = rt.settings.confirmations
        finals: list[tuple[Transaction, int, int]] = [(job, r.block_number, r.status) for job, r in mined]
        reorged: list[Transaction] = []
        for job, attempt in already:
            assert attempt.block_number is not None and attempt.receipt_status is not None
            if canonical.get(attempt.block_number) != attempt.block_hash:
                reorged.append(job)
            else:
                finals.append((job, attempt.block_number, attempt.receipt_status))
        confirmed: list[Transaction] = []
        failed: list[tuple[Transaction, str | None, str]] = []
        for job, number, status in finals:
            if canonical.get(number) is None or head - number + 1 < depth:
                continue
            if status == 1:
                confirmed.append(job)
            else:
                error, reason = self._revert_reason(job, number)  # an RPC call: before the write lock is taken
                failed.append((job, error, reason))
        if not (mined or lost or confirmed or failed or reorged):
            return 0
        receipts_of = [
            store.Mined(job.id, r.tx_hash, r.block_number, r.block_hash, r.gas_used, r.status) for job, r in mined
        ]
        with transaction(rt.sessions) as session:
            done = len(self._apply(session, store.update_unconfirmed_to_mined, "mined", receipts_of))
            for job in lost:
                REALIGNS.inc()
                log.warning("nonce %s of %s was used by another transaction; requeued", job.nonce, job.id)
                done += len(self._apply(session, store.update_in_flight_to_queued, "tx_ids", [job.id]))
            made = set(self._apply(session, store.update_mined_to_confirmed, "tx_ids", [job.id for job in confirmed]))
            done += len(made)
            now = utcnow()
            for job in confirmed:
                if job.id in made:
                    TIME_TO_CONFIRM.observe((now - as_utc(job.created_at)).total_seconds())
            for job, error, reason in failed:
                FAILURES.labels(error or "unknown").inc()
                done += len(self._apply(session, store.update_mined_to_failed, "tx_ids", [job.id], error=error,
                                        reason=reason))  # fmt: skip
            for job in reorged:
                REORGS.inc()
                log.warning("the block of job %s left the chain; it will be sent again", job.id)
            done += len(self._apply(session, store.update_mined_to_unconfirmed, "tx_ids", [job.id for job in reorged]))
        return done

    @staticmethod
    def _apply(
        session: Session, transition: Callable[..., None], name: str, items: Sequence[T], **more: Any
    ) -> list[T]:
        """Make ``transition`` for all ``items`` (passed as argument ``name``) in one savepoint. If another process
        made it first for some (that is fine), make it for each item on its own and skip those. Returns the
        items it was made for."""
        if not items or _in_savepoint(session, transition, {name: items, **more}):
            return list(items)
        if len(items) == 1:
            return []
        return [item for item in items if _in_savepoint(session, transition, {name: [item], **more})]

    def _revert_reason(self, job: Transaction, block: int) -> tuple[str | None, str]:
        """Replay the call on the block before to read the custom error (our receipts carry no data)."""
        tx = {"from": job.from_address, "to": job.to_address, "data": bytes(job.data), "value": int(job.value),
              "gas": job.gas_limit}  # fmt: skip
        try:
            self.rt.chain.call(tx, max(block - 1, 0))
        except RpcErrorReply as exc:
            data = revert_data(exc)
            if data is not None:
                decoded = self.rt.escrow.decode_error(data)
                return decoded.error, decoded.reason
            return None, f"reverted; replay failed: {exc.message}"
        return None, "reverted (the replay did not revert: the state changed within the block)"

    def _export_gauges(self, session: object) -> None:
        counts = store.count_by_state(session)  # type: ignore[arg-type]
        for state in ("queued", "in_progress", "unconfirmed", "mined", "confirmed", "failed", "cancelled"):
            QUEUE_DEPTH.labels(state).set(counts.get(state, 0))
        flights: dict[str, int] = defaultdict(int, store.in_flight_by_signer(session))  # type: ignore[arg-type]
        for signer, count in flights.items():
            IN_FLIGHT.labels(signer).set(count)
