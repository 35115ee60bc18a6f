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
from datetime import UTC

from offchain.relayer import store
from offchain.relayer.chain import Receipt, RpcErrorReply, revert_data
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import InvalidTransition
from offchain.relayer.metrics import FAILURES, IN_FLIGHT, QUEUE_DEPTH, REALIGNS, REORGS, TIME_TO_CONFIRM
from offchain.relayer.models import Transaction, utcnow
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)
LIVE_ATTEMPTS = ("signed", "broadcast", "mined")


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
        done = 0
        with transaction(rt.sessions) as session:
            for job, receipt in mined:
                done += self._apply(
                    session,
                    store.update_unconfirmed_to_mined,
                    tx_id=job.id,
                    attempt_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                    block_hash=receipt.block_hash,
                    gas_used=receipt.gas_used,
                    status=receipt.status,
                )
            for job in lost:
                REALIGNS.inc()
                log.warning("nonce %s of %s was used by another transaction; requeued", job.nonce, job.id)
                done += self._apply(session, store.update_in_flight_to_queued, tx_id=job.id)
        finals: list[tuple[Transaction, str, int, int]] = []  # job, hash, block, status
        for job, receipt in mined:
            finals.append((job, receipt.tx_hash, receipt.block_number, receipt.status))
        reorged: list[Transaction] = []
        for job, attempt in already:
            assert attempt.block_number is not None and attempt.receipt_status is not None
            if canonical.get(attempt.block_number) != attempt.block_hash:
                reorged.append(job)
            else:
                finals.append((job, attempt.hash, attempt.block_number, attempt.receipt_status))
        confirmed: list[Transaction] = []
        failed: list[tuple[Transaction, str | None, str]] = []
        for job, _hash, number, status in finals:
            if canonical.get(number) is None or head - number + 1 < depth:
                continue
            if status == 1:
                confirmed.append(job)
            else:
                error, reason = self._revert_reason(job, number)
                failed.append((job, error, reason))
        if confirmed or failed or reorged:
            with transaction(rt.sessions) as session:
                for job in confirmed:
                    if self._apply(session, store.update_mined_to_confirmed, tx_id=job.id):
                        done += 1
                        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
                        TIME_TO_CONFIRM.observe((utcnow() - created).total_seconds())
                for job, error, reason in failed:
                    FAILURES.labels(error or "unknown").inc()
                    done += self._apply(session, store.update_mined_to_failed, tx_id=job.id, error=error, reason=reason)
                for job in reorged:
                    REORGS.inc()
                    log.warning("the block of job %s left the chain; it will be sent again", job.id)
                    done += self._apply(session, store.update_mined_to_unconfirmed, tx_id=job.id)
        return done

    @staticmethod
    def _apply(session: object, fn: object, **kwargs: object) -> int:
        """One transition inside a savepoint: another process may have made it first (that is fine)."""
        nested = session.begin_nested()  # type: ignore[attr-defined]
        try:
            fn(session, **kwargs)  # type: ignore[operator]
        except InvalidTransition as exc:
            nested.rollback()
            log.info("skipped: %s", exc)
            return 0
        nested.commit()
        return 1

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
