"""The timeout keeper: submits the permissionless transitions as soon as they are due, so no order waits on a human.

From the index it finds orders whose deadline has passed at the latest block's time:

- ``Delivered`` with ``reviewBy < now`` → ``finalize(ref)`` (the client stayed silent through the review period);
- ``RevisionRequested`` with ``respondBy < now`` → ``startRevision(ref)`` (the freelancer stayed silent).

Guarantees: never early (due means the latest block is already past the deadline, so the next block is too) and
never a call that would revert (each is simulated with ``eth_estimateGas`` first; a revert is skipped and logged).
Each transition is enqueued once: its idempotency key is ``keeper:<transition>:<ref>:<deadline>`` (a later
deadline of the same order is a new transition). Leaves the sending to the part 1 pipeline (submitter, confirmer,
resender); a job that fails is not retried for the same deadline.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from offchain.eip712 import Status
from offchain.relayer import store
from offchain.relayer.api.jobs import simulate
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import ApiError, StorageError
from offchain.relayer.index.models import IndexOrder
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)

KEEPER_JOBS = Counter("taskescrow_keeper_jobs_total", "Timeout transitions the keeper enqueued", ["transition"])
TRANSITIONS = {int(Status.DELIVERED): "finalize", int(Status.REVISION_REQUESTED): "startRevision"}


def idempotency_key(transition: str, ref: str, deadline: int) -> str:
    return f"keeper:{transition}:{ref}:{deadline}"


class Keeper(Worker):
    """Enqueues due ``finalize`` / ``startRevision`` jobs; see the module docstring."""

    name = "keeper"

    def due(self, now: int) -> list[tuple[str, str, int]]:
        """(transition, ref, deadline) of every order whose timeout is due at block time ``now``."""
        with self.rt.sessions() as session:
            rows = session.execute(
                select(IndexOrder.ref, IndexOrder.status, IndexOrder.deadline)
                .where(
                    or_(*(IndexOrder.status == status for status in TRANSITIONS)),
                    IndexOrder.deadline < now,
                )
                .order_by(IndexOrder.deadline)
                .limit(500)
            ).all()
            out = []
            for ref, status, deadline in rows:
                transition = TRANSITIONS[status]
                if store.find_by_idempotency_key(session, key=idempotency_key(transition, ref, deadline)) is None:
                    out.append((transition, ref, deadline))
            return out

    def run_once(self) -> int:
        latest = self.rt.chain.latest_block()
        now = int(latest["timestamp"], 16) if isinstance(latest["timestamp"], str) else int(latest["timestamp"])
        enqueued = 0
        for transition, ref, deadline in self.due(now):
            if self.enqueue(transition, ref, deadline):
                enqueued += 1
        return enqueued

    def enqueue(self, transition: str, ref: str, deadline: int) -> bool:
        sender = self.rt.sender.address
        data = self.rt.escrow.encode(transition, bytes.fromhex(ref[2:]))
        try:
            gas_limit = simulate(self.rt, from_address=sender, data=data)
        except ApiError as exc:
            log.info("keeper: %s(%s) not sent: %s", transition, ref, exc.message)
            return False
        key = idempotency_key(transition, ref, deadline)
        body = {"orderRef": ref, "action": transition}
        try:
            with transaction(self.rt.sessions) as session:
                store.create_queued_transaction(
                    session,
                    idempotency_key=key,
                    req_hash=store.request_hash(transition, body),
                    kind=transition,
                    params=body,
                    from_address=sender,
                    to_address=self.rt.escrow.address,
                    data=data,
                    value=0,
                    gas_limit=gas_limit,
                    chain_id=self.rt.chain_id,
                    api_key_id=None,
                )
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # another keeper enqueued it first
                return False
            raise
        KEEPER_JOBS.labels(transition).inc()
        log.info("keeper: enqueued %s(%s) due after %d", transition, ref, deadline)
        return True
