"""Every OrderEscrow event is indexed (orders, deliveries, reviews, payments) and webhooked with the right payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from offchain.relayer.db import transaction
from offchain.relayer.index import webhooks
from offchain.relayer.index.projection import WEBHOOK_TYPES, event_id
from offchain.relayer.index.watcher import Watcher, webhook_id
from offchain.relayer.index.webhooks import WebhookWorker
from tests.indexer.kit import (
    SECRET,
    assert_orders_match_chain,
    catch_up,
    drain,
    make_runtime,
    play_every_path,
    receiver,
)
from tests.relayer.harness import NATIVE, Deployment

EVENT_NAMES = sorted(WEBHOOK_TYPES)


#: uint256 arguments: announced as decimal strings (exact for every JSON consumer)
UINT256 = {"amount", "refunded", "freelancerAmount", "fee", "clientAmount", "nonce"}


def _json(key: str, value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value) if key in UINT256 else value


def chain_events(d: Deployment) -> list[Any]:
    logs = []
    for name in EVENT_NAMES:
        logs += getattr(d.escrow.events, name)().get_logs(from_block=0)
    return sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_event_is_indexed_and_webhooked_with_its_payload(
    deployment: Deployment, new_db: Callable[[str], str], kind: str
) -> None:
    d = deployment
    if not d.events("OrderFunded"):
        play_every_path(d)
    rt = make_runtime(d, new_db(kind))
    with receiver() as hook:
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=hook.url, secret=SECRET)
        watcher, sender = Watcher(rt), WebhookWorker(rt)
        catch_up(watcher)
        drain(sender, rt)
        logs = chain_events(d)
        assert {log["event"] for log in logs} == set(EVENT_NAMES), "the script emits every event"
        got = {p["id"]: p for p in hook.payloads()}
        assert len(got) == len(hook.received) == len(logs), "one webhook per event, none twice"
        assert hook.all_signed()
        for log in logs:
            ident = webhook_id(event_id(rt.chain_id, "0x" + log["blockHash"].hex(), log["logIndex"]))
            payload = got[ident]
            assert payload["type"] == WEBHOOK_TYPES[log["event"]]
            assert payload["block"]["number"] == log["blockNumber"]
            assert payload["txHash"] == "0x" + log["transactionHash"].hex()
            stamp = d.w3.eth.get_block(log["blockNumber"])["timestamp"]
            assert payload["block"]["timestamp"] == stamp
            for key, value in log["args"].items():
                assert payload["data"][key] == _json(key, value), (log["event"], key)
            if "ref" in log["args"]:
                assert payload["ref"] == "0x" + log["args"]["ref"].hex()
            if log["event"] == "Delivered":
                assert payload["data"]["latenessName"] in {"ON_TIME", "OVERDUE", "SERIOUSLY_OVERDUE"}
        # per order, in chain order
        order_of = [(p["ref"], p["block"]["number"], p["logIndex"]) for p in hook.payloads() if p["ref"]]
        for ref in {r for r, _, _ in order_of}:
            positions = [(b, i) for r, b, i in order_of if r == ref]
            assert positions == sorted(positions), ref
        assert assert_orders_match_chain(d, rt) == len(d.events("OrderFunded"))
        sender.stop()


def test_late_deliveries_record_their_lateness_and_block_time(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    from sqlalchemy import select

    from offchain.relayer.index.models import IndexDelivery

    d = deployment
    if not d.events("OrderFunded"):
        play_every_path(d)
    rt = make_runtime(d, new_db("sqlite"))
    catch_up(Watcher(rt))
    with rt.sessions() as session:
        rows = list(session.scalars(select(IndexDelivery)))
    delivered = d.events("Delivered")
    assert len(rows) == len(delivered)
    by_key = {(r.ref, r.index): r for r in rows}
    for log in delivered:
        row = by_key[("0x" + log["args"]["ref"].hex(), log["args"]["index"])]
        assert row.lateness == log["args"]["lateness"]
        assert row.delivered_at == d.w3.eth.get_block(log["blockNumber"])["timestamp"]
        assert row.deliverable_hash == "0x" + log["args"]["deliverableHash"].hex()
    assert {r.lateness for r in rows} >= {1, 2}, "the script delivers on time and overdue"


def test_payment_totals_equal_withdrawable_balances_of_every_account(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    from sqlalchemy import select

    from offchain.relayer.api.routes.accounts import totals_of
    from offchain.relayer.index.models import IndexPayment

    d = deployment
    if not d.events("OrderFunded"):
        play_every_path(d)
    rt = make_runtime(d, new_db("sqlite"))
    catch_up(Watcher(rt))
    with rt.sessions() as session:
        columns = (IndexPayment.account, IndexPayment.token, IndexPayment.kind, IndexPayment.amount)
        rows = session.execute(select(*columns)).all()
    accounts = {a for a, _, _, _ in rows}
    checked = 0
    for account in accounts:
        totals = totals_of([(t, k, a) for acc, t, k, a in rows if acc == account])
        for token in (NATIVE, d.token.address):
            on_chain = d.escrow.functions.withdrawable(token, account).call()
            indexed = int(totals[token].balance) if token in totals else 0
            assert indexed == on_chain, (account, token)
            checked += 1
        withdrawn = sum(int(a) for acc, _, k, a in rows if acc == account and k == "withdrawn")
        assert withdrawn >= 0
    assert checked >= 8
    kinds = {k for _, _, k, _ in rows}
    assert kinds == {"funded", "released", "refunded", "fee", "withdrawn"}
    assert Web3.is_checksum_address(next(iter(accounts)))
