"""A small typed client for the relayer's HTTP API (used by the tests, the benchmark and the demo).

::

    relayer = RelayerClient("http://127.0.0.1:8000", api_key)
    job = relayer.submit_action(signed, idempotency_key="order-42-accept")
    job = relayer.wait(job.id)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TERMINAL = frozenset({"confirmed", "failed", "cancelled"})


class RelayerHTTPError(Exception):
    """The relayer answered with an error status; ``code`` and ``detail`` come from its body."""

    def __init__(self, status: int, code: str, message: str, detail: Any) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.detail = status, code, message, detail


@dataclass(frozen=True)
class Attempt:
    hash: str
    nonce: int
    gas_price: int
    priority_fee: int | None
    state: str
    block_number: int | None
    block_hash: str | None
    gas_used: int | None
    status: int | None
    confirmations: int | None


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    state: str
    idempotency_key: str
    nonce: int | None
    error: str | None
    error_reason: str | None
    sender: str
    attempts: list[Attempt] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    http_status: int = 0

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_json(cls, body: dict[str, Any], http_status: int = 0) -> Job:
        return cls(
            id=body["id"],
            kind=body["kind"],
            state=body["state"],
            idempotency_key=body["idempotencyKey"],
            nonce=body["nonce"],
            error=body["error"],
            error_reason=body["errorReason"],
            sender=body["from"],
            params=body["params"],
            http_status=http_status,
            attempts=[
                Attempt(
                    hash=a["hash"],
                    nonce=a["nonce"],
                    gas_price=int(a["gasPrice"]),
                    priority_fee=None if a["priorityFee"] is None else int(a["priorityFee"]),
                    state=a["state"],
                    block_number=a["blockNumber"],
                    block_hash=a["blockHash"],
                    gas_used=a["gasUsed"],
                    status=a["status"],
                    confirmations=a["confirmations"],
                )
                for a in body["attempts"]
            ],
        )


class RelayerClient:
    """Typed calls to ``/v1``. Writes take an ``idempotency_key`` (a fresh UUID if omitted)."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RelayerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            if isinstance(detail, dict):
                raise RelayerHTTPError(response.status_code, detail.get("code", ""), detail.get("message", ""), detail)
            raise RelayerHTTPError(response.status_code, "invalid" if response.status_code == 422 else "", str(detail),
                                   detail)  # fmt: skip
        return response.json()

    def _write(self, path: str, body: dict[str, Any], idempotency_key: str | None) -> Job:
        key = idempotency_key or str(uuid.uuid4())
        response = self.http.post(path, json=body, headers={"Idempotency-Key": key})
        return Job.from_json(self._json(response), response.status_code)

    def quote(self, **terms: Any) -> dict[str, Any]:
        """``terms``: orderRef, client, freelancer, token, amount, feeBps, deliveryDuration, maxRevisions,
        and optionally quoteExpiry."""
        return dict(self._json(self.http.post("/v1/quotes", json=terms)))

    def submit_action(self, action: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """``action``: party, action (name), orderRef, args, nonce, deadline, signature."""
        return self._write("/v1/actions", action, idempotency_key)

    def submit_ruling(self, order_ref: str, freelancer_bps: int, *, idempotency_key: str | None = None) -> Job:
        return self._write("/v1/rulings", {"orderRef": order_ref, "freelancerBps": freelancer_bps}, idempotency_key)

    def submit_settlement(self, order_ref: str, freelancer_bps: int, client_signature: str,
                          freelancer_signature: str, *, idempotency_key: str | None = None) -> Job:  # fmt: skip
        body = {"orderRef": order_ref, "freelancerBps": freelancer_bps, "clientSignature": client_signature,
                "freelancerSignature": freelancer_signature}  # fmt: skip
        return self._write("/v1/settlements", body, idempotency_key)

    def submit_funding(self, terms: dict[str, Any], quote_signature: str, client_signature: str, *,
                       idempotency_key: str | None = None) -> Job:  # fmt: skip
        body = {"terms": terms, "quoteSignature": quote_signature, "clientSignature": client_signature}
        return self._write("/v1/fundings", body, idempotency_key)

    def submit_timeout(self, order_ref: str, action: str, *, idempotency_key: str | None = None) -> Job:
        return self._write("/v1/timeouts", {"orderRef": order_ref, "action": action}, idempotency_key)

    def job(self, job_id: str) -> Job:
        return Job.from_json(self._json(self.http.get(f"/v1/jobs/{job_id}")))

    def cancel(self, job_id: str) -> Job:
        return Job.from_json(self._json(self.http.post(f"/v1/jobs/{job_id}/cancel")))

    def wait(self, job_id: str, *, states: frozenset[str] = TERMINAL, timeout: float = 60.0,
             on_poll: Callable[[], None] | None = None, interval: float = 0.02) -> Job:  # fmt: skip
        """Poll until the job is in one of ``states``; ``on_poll`` runs between polls (tests mine blocks there)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.state in states:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout}s")
            if on_poll:
                on_poll()
            time.sleep(interval)

    # -- reads of the chain index (part 2) --------------------------------------------------------------------

    def order(self, ref: str) -> dict[str, Any]:
        """State, deadlines, and what each party may do now and from when."""
        return dict(self._json(self.http.get(f"/v1/orders/{ref}")))

    def deliveries(self, ref: str) -> list[dict[str, Any]]:
        """The delivery history: index, deliverable hash, time, lateness."""
        return list(self._json(self.http.get(f"/v1/orders/{ref}/deliveries")))

    def orders(self, *, party: str | None = None, status: str | None = None, cursor: str | None = None,
               limit: int = 50) -> dict[str, Any]:  # fmt: skip
        """One page of "View All Orders"; pass ``nextCursor`` back as ``cursor`` for the next."""
        params = {k: v for k, v in {"party": party, "status": status, "cursor": cursor, "limit": limit}.items() if v}
        return dict(self._json(self.http.get("/v1/orders", params=params)))

    def payments(self, account: str, *, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
        """One page of an account's "Billing and Payments", with totals per token."""
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        return dict(self._json(self.http.get(f"/v1/accounts/{account}/payments", params=params)))

    def create_webhook_endpoint(self, url: str, *, secret: str | None = None, description: str = "") -> dict[str, Any]:
        """Register a webhook endpoint (admin scope); the answer carries the secret once."""
        body = {"url": url, "secret": secret, "description": description}
        return dict(self._json(self.http.post("/v1/webhooks/endpoints", json=body)))
