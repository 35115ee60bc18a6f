"""Webhooks while the receiver is down: every event arrives after it recovers, each order's in chain order, signed;
every attempt is recorded; deliveries past the retry window go to the dead-letter list and can be replayed."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import func, select

from offchain.relayer.db import transaction
from offchain.relayer.index import webhooks
from offchain.relayer.index.models import WebhookAttempt, WebhookDelivery
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import WebhookWorker, backoff, sign, verify_signature
from tests.indexer.kit import SECRET, catch_up, drain, make_runtime, receiver
from tests.relayer.harness import Deployment

H = b"h".ljust(32, b"\0")


def make_orders(d: Deployment, n: int) -> None:
    terms = [d.terms() for _ in range(n)]
    d.fund_orders(terms)
    for t in terms:
        d.send(d.client, d.escrow.functions.submitRequirements(t.orderRef, H))
        d.send(d.freelancer, d.escrow.functions.deliver(t.orderRef, H))


def test_signatures_verify_only_with_the_secret_the_body_and_a_fresh_timestamp() -> None:
    body, now = b'{"id":"x"}', int(time.time())
    header = sign("s3cret", body, now)
    assert verify_signature("s3cret", header, body)
    assert not verify_signature("other", header, body)
    assert not verify_signature("s3cret", header, body + b" ")
    assert not verify_signature("s3cret", sign("s3cret", body, now - 3600), body)
    assert not verify_signature("s3cret", "garbage", body)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    delays = [backoff(n, 1.0, 3600.0) for n in range(1, 14)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3600.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(backoff(5, 1.0, 3600.0), 6) for _ in range(20)}) > 1, "jittered"


def test_every_event_arrives_in_order_after_the_receiver_recovers(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    d = deployment
    make_orders(d, 3)
    rt = make_runtime(d, new_db("sqlite"), webhook_timeout=0.3)
    with receiver(mode="fail") as hook:
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=hook.url, secret=SECRET)
        watcher, sender = Watcher(rt), WebhookWorker(rt)
        catch_up(watcher)
        for _ in range(3):  # 500s, then timeouts
            sender.run_once()
            time.sleep(0.25)  # let the (millisecond) backoff pass: our own clock, not the chain
        hook.mode, hook.slow_seconds = "slow", 1.0
        for _ in range(2):
            sender.run_once()
            time.sleep(0.25)
        with rt.sessions() as session:
            attempts = session.scalar(select(func.count()).select_from(WebhookAttempt))
            errors = set(session.scalars(select(WebhookAttempt.error)))
            codes = set(session.scalars(select(WebhookAttempt.status_code)))
        assert attempts and attempts >= 5 and hook.received == []
        assert 500 in codes and any(e and "Timeout" in e for e in errors), "both failures are recorded"
        hook.mode = "ok"
        drain(sender, rt)
        payloads = hook.payloads()
        with rt.sessions() as session:
            produced = session.scalar(select(func.count()).select_from(WebhookDelivery))
        assert len(payloads) == produced and len(set(hook.ids())) == produced
        assert hook.all_signed()
        for ref in {p["ref"] for p in payloads if p["ref"]}:
            positions = [(p["block"]["number"], p["logIndex"]) for p in payloads if p["ref"] == ref]
            assert positions == sorted(positions)
        sender.stop()


def test_deliveries_past_the_retry_window_are_dead_lettered_and_replayed(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    d = deployment
    make_orders(d, 1)
    rt = make_runtime(d, new_db("sqlite"), webhook_retry_window=0.0)
    with receiver(mode="fail") as hook:
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=hook.url, secret=SECRET)
        watcher, sender = Watcher(rt), WebhookWorker(rt)
        catch_up(watcher)
        for _ in range(50):
            if not sender.run_once():
                break
        with rt.sessions() as session:
            dead = webhooks.dead_letters(session, limit=10_000)
            states = set(session.scalars(select(WebhookDelivery.state)))
        assert dead and states == {"dead"}, "a dead delivery no longer holds back the order's next ones"
        hook.mode = "ok"
        with transaction(rt.sessions) as session:
            assert webhooks.replay_dead(session) == len(dead)
        drain(sender, rt)
        assert len(hook.received) == len(dead)
        with rt.sessions() as session:
            assert set(session.scalars(select(WebhookDelivery.state))) == {"delivered"}
        sender.stop()
