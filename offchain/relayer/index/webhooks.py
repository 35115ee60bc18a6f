"""Webhooks: signed POSTs of every indexed change, retried with backoff, recorded, and dead-lettered.

Guarantees:

- Every webhook event is written in the same database transaction as the index change it announces, with one
  ``pending`` delivery per active endpoint, so a crash never loses or duplicates one; its ``id`` is derived from
  the chain position (or the job id and state), so the same change always has the same id.
- Per endpoint and per order (``order_key``), deliveries go out one at a time, in the order they were produced:
  a later one waits while an earlier one is pending (also while it backs off).
- A failed try (non-2xx, timeout, connection error) is retried with exponential backoff and jitter until
  ``webhook_retry_window`` (24 h by default) has passed since the first try; then the delivery is ``dead``
  (the dead-letter list) and no longer holds back the order's later deliveries. :func:`replay_dead` requeues.
- Every try is a ``webhook_attempts`` row (status code or error, duration).

Leaves to the receiver: deduplicating by ``id`` (a delivery whose 2xx answer was lost is sent again).

Signature: header ``X-Taskescrow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``;
receivers check it with :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.orm import Session, aliased

from offchain.relayer.db import transaction
from offchain.relayer.index.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookJobState,
)
from offchain.relayer.models import Transaction
from offchain.relayer.runtime import Runtime
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Taskescrow-Signature"
EVENT_ID_HEADER = "X-Taskescrow-Event-Id"
EVENT_TYPE_HEADER = "X-Taskescrow-Event-Type"


# -- signing ------------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance`` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


_WAKE = threading.Event()


def notify() -> None:
    """Tell this process's webhook sender that new deliveries were committed (it polls anyway)."""
    _WAKE.set()


# -- producing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A webhook event to produce: ``payload`` must hold ``id`` and ``type``."""

    id: str
    type: str
    order_key: str
    ref: str | None
    block_number: int | None
    payload: dict[str, Any]


def produce(session: Session, notices: Sequence[Notice]) -> int:
    """Insert ``notices`` (in order) and a pending delivery for each active endpoint; in the caller's transaction."""
    if not notices:
        return 0
    rows = [
        {
            "id": n.id,
            "type": n.type,
            "order_key": n.order_key,
            "ref": n.ref,
            "block_number": n.block_number,
            "payload": json.dumps(n.payload, separators=(",", ":")),
        }
        for n in notices
    ]
    endpoints = list(session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))))
    if not endpoints:  # kept for the record (and ids), sent to no one
        session.execute(WebhookEvent.__table__.insert(), rows)
        return len(rows)
    seqs = list(
        session.execute(
            insert(WebhookEvent).returning(WebhookEvent.seq, WebhookEvent.order_key, sort_by_parameter_order=True),
            rows,
        )
    )
    deliveries = [
        {
            "endpoint_id": endpoint,
            "event_seq": seq,
            "order_key": key,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": 0.0,
            "leased_until": 0.0,
        }
        for endpoint in endpoints
        for seq, key in seqs
    ]
    if deliveries:
        session.execute(WebhookDelivery.__table__.insert(), deliveries)
    return len(rows)


def _job_ref(params: str) -> str | None:
    try:
        body = json.loads(params)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    terms = body.get("terms")
    ref = body.get("orderRef") or (terms.get("orderRef") if isinstance(terms, dict) else None)
    return str(ref).lower() if ref else None


def job_notices(session: Session, *, limit: int = 500) -> list[Notice]:
    """Notices for relayer jobs whose state changed since last announced (and records the new states)."""
    seen = aliased(WebhookJobState)
    query = (
        select(Transaction.id, Transaction.kind, Transaction.state, Transaction.params, Transaction.error,
               Transaction.error_reason, seen.state)
        .outerjoin(seen, seen.job_id == Transaction.id)
        .where((seen.state.is_(None)) | (seen.state != Transaction.state))
        .order_by(Transaction.updated_at, Transaction.id)
        .limit(limit)
    )  # fmt: skip
    notices: list[Notice] = []
    for job_id, kind, state, params, error, reason, previous in session.execute(query):
        ref = _job_ref(params)
        ident = f"job:{job_id}:{state}"
        payload = {
            "id": ident,
            "type": f"job.{state}",
            "ref": ref,
            "block": None,
            "data": {"jobId": job_id, "kind": kind, "state": state, "previousState": previous, "error": error,
                     "errorReason": reason},
        }  # fmt: skip
        notices.append(Notice(ident, f"job.{state}", ref or f"job:{job_id}", ref, None, payload))
        if previous is None:
            session.add(WebhookJobState(job_id=job_id, state=state))
        else:
            session.execute(update(WebhookJobState).where(WebhookJobState.job_id == job_id).values(state=state))
    return notices


# -- endpoints and the dead-letter list ---------------------------------------------------------------------


def create_endpoint(session: Session, *, url: str, secret: str | None = None, description: str = "") -> WebhookEndpoint:
    """Register an endpoint; it receives every event produced from now on. A secret is generated if none is given."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a webhook URL must be http(s): {url!r}")
    row = WebhookEndpoint(
        id=str(uuid.uuid4()), url=url, secret=secret or secrets.token_urlsafe(32), description=description, active=True
    )
    session.add(row)
    session.flush()
    return row


def deactivate_endpoint(session: Session, *, endpoint_id: str) -> bool:
    result = session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(active=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def dead_letters(
    session: Session, *, limit: int = 100, after_id: int = 0
) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
        .where(WebhookDelivery.state == "dead", WebhookDelivery.id > after_id)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return [(d, e) for d, e in session.execute(query)]


def replay_dead(session: Session, *, delivery_ids: Sequence[int] | None = None) -> int:
    """Requeue dead deliveries (all, or those ids): pending now, with a fresh retry window."""
    query = update(WebhookDelivery).where(WebhookDelivery.state == "dead")
    if delivery_ids is not None:
        query = query.where(WebhookDelivery.id.in_(list(delivery_ids)))
    result = session.execute(
        query.values(state="pending", next_attempt_at=0.0, leased_until=0.0, first_attempt_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter: in [d/2, d] for d = min(cap, base * 2^(attempts-1))."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# -- delivering ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    first_attempt_at: float | None


@dataclass(frozen=True)
class _Result:
    job: _Job
    at: float
    status: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookWorker(Worker):
    """Announces job state changes and sends due deliveries, each order's in sequence."""

    name = "webhooks"

    def __init__(self, runtime: Runtime, *, batch: int = 200) -> None:
        super().__init__(runtime)
        self.batch = batch
        self._pool = ThreadPoolExecutor(max_workers=max(1, runtime.settings.webhook_concurrency))
        self._http = httpx.Client(timeout=runtime.settings.webhook_timeout)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._pool.shutdown(wait=False)
        self._http.close()

    def run_once(self) -> int:
        if self._jobs_changed():
            with transaction(self.rt.sessions) as session:
                produce(session, job_notices(session))
        jobs = self._claim()
        if not jobs:
            # idle: wait for a producer in this process to commit (or the poll interval), then look again at once
            if _WAKE.wait(self.rt.settings.poll_interval):
                _WAKE.clear()
            return 1 if not self._stop.is_set() else 0
        results = list(self._pool.map(self._send, jobs))
        self._record(results)
        return len(results)

    def _jobs_changed(self) -> bool:
        """A read-only look first, so an idle cycle takes no write lock (SQLite has one writer)."""
        seen = aliased(WebhookJobState)
        with self.rt.sessions() as session:
            return (
                session.scalar(
                    select(Transaction.id)
                    .outerjoin(seen, seen.job_id == Transaction.id)
                    .where((seen.state.is_(None)) | (seen.state != Transaction.state))
                    .limit(1)
                )
                is not None
            )

    def _claim(self) -> list[_Job]:
        now = time.time()
        settings = self.rt.settings
        earlier = aliased(WebhookDelivery)
        blocked = exists().where(
            and_(
                earlier.endpoint_id == WebhookDelivery.endpoint_id,
                earlier.order_key == WebhookDelivery.order_key,
                earlier.state == "pending",
                earlier.event_seq < WebhookDelivery.event_seq,
            )
        )
        with transaction(self.rt.sessions) as session:
            ids = list(
                session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.state == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                        WebhookDelivery.leased_until <= now,
                        ~blocked,
                    )
                    .order_by(WebhookDelivery.event_seq)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            lease = now + 2 * settings.webhook_timeout + 1  # a killed sender's leases lapse soon after
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(leased_until=lease))
            rows = session.execute(
                select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
                .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id.in_(ids))
                .order_by(WebhookDelivery.event_seq)
            ).all()
            return [
                _Job(d.id, ep.url, ep.secret, ev.id, ev.type, ev.payload.encode(), d.attempts, d.first_attempt_at)
                for d, ev, ep in rows
            ]

    def _send(self, job: _Job) -> _Result:
        started = time.time()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: job.event_id,
            EVENT_TYPE_HEADER: job.event_type,
            SIGNATURE_HEADER: sign(job.secret, job.body, int(started)),
            "X-Taskescrow-Attempt": str(job.attempts + 1),
        }
        try:
            response = self._http.post(job.url, content=job.body, headers=headers)
            status, error = response.status_code, None if response.is_success else response.text[:500]
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return _Result(job, started, status, error, (time.time() - started) * 1000)

    def _record(self, results: Sequence[_Result]) -> None:
        settings = self.rt.settings
        now = time.time()
        with transaction(self.rt.sessions) as session:
            session.execute(
                insert(WebhookAttempt),
                [
                    {"delivery_id": r.job.delivery_id, "at": r.at, "status_code": r.status, "error": r.error,
                     "duration_ms": r.duration_ms}
                    for r in results
                ],
            )  # fmt: skip
            for r in results:
                first = r.job.first_attempt_at if r.job.first_attempt_at is not None else r.at
                values: dict[str, Any] = {
                    "attempts": r.job.attempts + 1,
                    "first_attempt_at": first,
                    "last_status": r.status,
                    "last_error": r.error,
                    "leased_until": 0.0,
                }
                if r.ok:
                    values.update(state="delivered", delivered_at=now)
                elif now - first >= settings.webhook_retry_window:
                    values.update(state="dead")
                    log.warning("webhook %s to %s dead after %d tries", r.job.event_id, r.job.url, r.job.attempts + 1)
                else:
                    delay = backoff(r.job.attempts + 1, settings.webhook_backoff_base, settings.webhook_backoff_max)
                    values.update(next_attempt_at=now + delay)
                session.execute(update(WebhookDelivery).where(WebhookDelivery.id == r.job.delivery_id).values(**values))
