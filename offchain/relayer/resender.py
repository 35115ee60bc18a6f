"""The resender: sends again what a node may have lost, and replaces what is priced too low.

Guarantees: an attempt that is stored but no node accepted (a crash, an unreachable RPC, a refusal) is sent
again after ``rebroadcast_after_seconds``; so is a broadcast attempt that is not mined (dropped from a
mempool, or reorged out). A job whose latest attempt is older than ``bump_after_seconds`` and still not
mined gets a replacement attempt — same nonce, every price raised by ``bump_percent`` (at least 10%),
capped at ``gas_price_max_wei`` — so only one of a job's attempts can ever land.

Leaves to the others: nonces (submitter) and receipts (confirmer). It never touches a mined job.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from offchain.relayer import store
from offchain.relayer.db import transaction
from offchain.relayer.fees import Fees, current_fees
from offchain.relayer.metrics import BUMPS
from offchain.relayer.models import Attempt, as_utc, utcnow
from offchain.relayer.submitter import broadcast, sign_attempt
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)


def _age(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return float("inf")
    return (now - as_utc(moment)).total_seconds()


class Resender(Worker):
    """Rebroadcasts stale attempts and bumps stuck ones."""

    name = "resender"

    @property
    def interval(self) -> float:
        """Its thresholds are seconds: looking every few hundred milliseconds is enough."""
        settings = self.rt.settings
        return min(
            max(settings.poll_interval, min(settings.rebroadcast_after_seconds, settings.bump_after_seconds) / 4), 1.0
        )

    def run_once(self) -> int:
        rt = self.rt
        settings = rt.settings
        with rt.sessions() as session:
            signers = store.signers_in_flight(session)
        if not signers:
            return 0
        chain_nonces = {a: rt.chain.nonce(a, "latest") for a in signers}
        now = utcnow()
        older_than = now - timedelta(seconds=min(settings.rebroadcast_after_seconds, settings.bump_after_seconds))
        with rt.sessions() as session:
            jobs = store.jobs_not_mined(session, chain_nonces=chain_nonces, older_than=older_than)
        resend: list[tuple[str, bytes]] = []
        bump: list[tuple[str, Attempt]] = []
        for job in jobs:
            if job.nonce is None or job.nonce < chain_nonces[job.from_address]:
                continue  # mined (or lost): the confirmer's
            live = [a for a in job.attempts if a.state in ("signed", "broadcast")]
            if not live:
                continue
            latest = live[-1]
            if _age(latest.created_at, now) > settings.bump_after_seconds:
                bump.append((job.id, latest))
            elif _age(latest.broadcast_at, now) > settings.rebroadcast_after_seconds:
                resend.append((latest.hash, bytes(latest.raw)))
        if bump:
            market = current_fees(rt.chain, settings)
            for tx_id, latest in bump:
                previous = Fees(
                    int(latest.gas_price), None if latest.priority_fee is None else int(latest.priority_fee)
                )
                fees = previous.bumped(settings.bump_percent, settings.gas_price_max_wei).at_least(market)
                if fees == previous:
                    resend.append((latest.hash, bytes(latest.raw)))  # at the cap: all we can do is resend
                    continue
                with transaction(rt.sessions) as session:
                    job = store.lock_for_bump(session, tx_id=tx_id, latest_attempt_id=latest.id)
                    if job is None or job.nonce != latest.nonce:
                        continue
                    attempt = sign_attempt(rt, job, nonce=latest.nonce, fees=fees)
                    store.add_attempts(session, [(tx_id, attempt)])
                BUMPS.inc()
                log.info("replacing %s at nonce %s: %s wei", latest.hash, latest.nonce, fees.gas_price,
                         extra={"job": tx_id})  # fmt: skip
                resend.append((attempt.hash, attempt.raw))
        if resend:
            accepted = broadcast(rt, resend)
            with transaction(rt.sessions) as session:
                store.touch_attempt_broadcast(session, hashes=accepted)
        return len(resend)
