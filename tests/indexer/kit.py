"""What the index tests share: a runtime on a deployment, a real HTTP webhook receiver, a scripted marketplace that
emits every OrderEscrow event, and comparisons of the index with the chain and with a fresh index."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from offchain.eip712 import Action
from offchain.localchain import free_port
from offchain.relayer.chain import RpcChain
from offchain.relayer.db import make_engine, make_sessionmaker, migrate
from offchain.relayer.escrow import Escrow, load_abi
from offchain.relayer.index.models import (
    IndexDelivery,
    IndexEvent,
    IndexOrder,
    IndexPayment,
    IndexReview,
    WebhookDelivery,
)
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import WebhookWorker, verify_signature
from offchain.relayer.keys import Signer
from offchain.relayer.runtime import Runtime
from offchain.relayer.settings import Settings
from tests.relayer.harness import ARTIFACT, DAY, NATIVE, Deployment

SECRET = "whsec-test"


def make_runtime(d: Deployment, database_url: str, **overrides: Any) -> Runtime:
    """A relayer runtime on ``d`` with the sender key loaded (no keystore files needed in-process)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "rpc_urls": [d.chain.url],
        "escrow_address": d.escrow.address,
        "artifact_path": ARTIFACT,
        "sender_address": d.sender.address,
        "poll_interval": 0.02,
        "webhook_backoff_base": 0.05,
        "webhook_backoff_max": 0.2,
        "webhook_timeout": 1.0,
        "index_max_range": 50,
    }
    values.update(overrides)
    settings = Settings(**values)
    migrate(database_url)
    engine = make_engine(database_url)
    chain = RpcChain(settings.rpc_urls, retries=3, timeout=10)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        chain=chain,
        escrow=Escrow(d.escrow.address, load_abi(ARTIFACT)),
        chain_id=chain.chain_id(),
        signers={d.sender.address.lower(): Signer(d.sender)},
    )


def catch_up(watcher: Watcher, limit: int = 2000) -> None:
    """Run the watcher until it has nothing left to do (bounded)."""
    for _ in range(limit):
        if watcher.run_once() == 0:
            return
    raise AssertionError("the watcher did not catch up")


def pending_deliveries(rt: Runtime) -> int:
    with rt.sessions() as session:
        return len(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.state == "pending")).all())


def drain(worker: WebhookWorker, rt: Runtime, timeout: float = 30.0) -> None:
    """Send webhooks until none is pending (backoffs are milliseconds in tests; the bound is wall time)."""
    deadline = time.monotonic() + timeout
    while pending_deliveries(rt):
        if time.monotonic() > deadline:
            raise AssertionError("webhooks still pending")
        if worker.run_once() == 0:
            time.sleep(0.01)  # a delivery is backing off: waiting for our own clock, not the chain


# -- a real HTTP receiver --


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """An HTTP server on a free port that records every POST; ``mode`` is ok, fail (500) or slow (times out)."""

    mode: str = "ok"
    slow_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)
    failures: int = 0
    port: int = 0
    #: called with each accepted request as it arrives (the benchmark's clock)
    listener: Callable[[Received], Any] | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (tests SIGKILL it): nothing was delivered
                    return
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_seconds)  # the receiver hangs; the relayer's timeout fires
                if receiver.mode != "ok":
                    receiver.failures += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                item = Received({k: v for k, v in self.headers.items()}, body)
                if receiver.listener is not None:
                    receiver.listener(item)
                receiver.received.append(item)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        return [r.json for r in self.received]

    def ids(self) -> list[str]:
        return [p["id"] for p in self.payloads()]

    def all_signed(self, secret: str = SECRET) -> bool:
        return all(verify_signature(secret, r.headers["X-Taskescrow-Signature"], r.body) for r in self.received)


@contextmanager
def receiver(mode: str = "ok") -> Iterator[Receiver]:
    r = Receiver(mode=mode).start()
    try:
        yield r
    finally:
        r.stop()


# -- a scripted marketplace: every event type --


@dataclass
class Script:
    d: Deployment
    refs: dict[str, bytes] = field(default_factory=dict)

    def call(self, account: LocalAccount, fn: str, *args: Any, value: int = 0) -> None:
        self.d.send(account, getattr(self.d.escrow.functions, fn)(*args), value)

    def fund(self, name: str, **overrides: Any) -> bytes:
        terms = self.d.terms(**overrides)
        value = terms.amount if terms.token == NATIVE else 0
        self.d.send(self.d.client, self.d.escrow.functions.fund(terms.as_tuple(), self.d.quote(terms)), value)
        self.refs[name] = terms.orderRef
        return terms.orderRef

    def advance(self, seconds: int) -> None:
        self.d.chain.increase_time(seconds)

    def h(self, text: str) -> bytes:
        return text.encode().ljust(32, b"\0")


def play_every_path(d: Deployment) -> Script:
    """Orders that between them emit every OrderEscrow event (and so every webhook type)."""
    s = Script(d)
    c, f, o = d.client, d.freelancer, d.outsider
    token = d.token.address
    # cancelled by the freelancer (declined)
    r = s.fund("cancelled")
    s.call(f, "cancel", r)
    # BEP-20: deadline moved, revisions (acknowledged, then started after the window), late delivery, reviews
    r = s.fund("revised", token=token, amount=5 * 10**18)
    s.call(c, "submitRequirements", r, s.h("reqs"))
    new_date = d.now() + 10 * DAY
    s.call(f, "proposeDeadline", r, new_date)
    s.call(c, "agreeDeadline", r, new_date)
    s.call(f, "deliver", r, s.h("v1"))
    s.call(c, "requestRevision", r, s.h("fix"))
    s.call(f, "acknowledgeRevision", r)
    s.call(f, "deliver", r, s.h("v2"))
    s.call(c, "requestRevision", r, s.h("fix again"))
    s.advance(DAY + 1)
    s.call(o, "startRevision", r)
    s.advance(6 * DAY)
    s.call(f, "deliver", r, s.h("v3"))
    s.call(c, "accept", r)
    s.call(c, "review", r, 2, s.h("meh"))
    s.call(f, "replyToReview", r, s.h("sorry"))
    s.call(f, "review", r, 5, s.h("great client"))
    # refused three times: a dispute, then the arbiter's ruling
    r = s.fund("disputed")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.call(f, "deliver", r, s.h("d"))
    for _ in range(3):
        s.call(c, "requestRefund", r, s.h("bad"))
        s.call(f, "refuseRefund", r)
    s.call(d.arbiter, "resolveDispute", r, 4_000)
    # refund accepted by the freelancer
    r = s.fund("refund-accepted")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.call(f, "deliver", r, s.h("d"))
    s.call(c, "requestRefund", r, s.h("bad"))
    s.call(f, "acceptRefund", r)
    # seriously overdue: refunded
    r = s.fund("overdue")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.advance(8 * DAY)
    s.call(c, "refundOverdue", r)
    # the fee recipient changes; an order auto-completes after the review period (finalize by anyone)
    s.call(d.admin, "setFeeRecipient", d.accounts[7].address)
    r = s.fund("finalized")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.call(f, "deliver", r, s.h("d"))
    s.advance(3 * DAY + 1)
    s.call(o, "finalize", r)
    # a signed accept carried by someone else; a dispute opened by the client
    r = s.fund("signed")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.call(f, "deliver", r, s.h("d"))
    body = d.signed_action(c, Action.ACCEPT, r)
    action = (body["party"], int(Action.ACCEPT), r, bytes.fromhex(body["args"][2:]), body["nonce"], body["deadline"])
    s.call(o, "executeWithSig", action, bytes.fromhex(body["signature"][2:]))
    r = s.fund("open-dispute")
    s.call(c, "submitRequirements", r, s.h("reqs"))
    s.call(c, "openDispute", r, s.h("help"))
    # everyone withdraws something
    s.call(f, "withdraw", NATIVE)
    s.call(f, "withdraw", token)
    s.call(c, "withdraw", NATIVE)
    s.call(d.fee_recipient, "withdraw", NATIVE)
    return s


# -- comparisons --


def index_snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every index row (without row ids), sorted: two indexes of the same chain are equal."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with rt.sessions() as session:
        for table in (IndexEvent, IndexOrder, IndexDelivery, IndexReview, IndexPayment):
            cols = [c for c in table.__table__.columns]
            rows = session.execute(select(*cols)).all()
            out[table.__tablename__] = sorted(tuple(r) for r in rows)
    return out


def assert_orders_match_chain(d: Deployment, rt: Runtime) -> int:
    """Each indexed order equals ``getOrder`` on the chain; returns how many were compared."""
    with rt.sessions() as session:
        orders = list(session.scalars(select(IndexOrder)))
    for o in orders:
        view = d.escrow.functions.getOrder(bytes.fromhex(o.ref[2:])).call()
        terms = view[0]
        assert (terms[1], terms[2], terms[3], str(terms[4]), terms[5], terms[6], terms[7]) == (
            o.client, o.freelancer, o.token, o.amount, o.fee_bps, o.delivery_duration, o.max_revisions
        ), o.ref  # fmt: skip
        status = view[1]
        deadline = view[3] or view[4]
        assert status == o.status, o.ref
        assert view[2] == o.deliver_by, o.ref
        if deadline:
            assert deadline == o.deadline, o.ref
        assert (view[5], view[6], view[7], view[8]) == (o.revisions_used, o.refund_refusals, o.delivery_count,
                                                         o.last_lateness), o.ref  # fmt: skip
        assert (view[9], view[10], view[11], view[12]) == (o.client_rating, o.freelancer_rating, o.client_replied,
                                                           o.freelancer_replied), o.ref  # fmt: skip
    return len(orders)
