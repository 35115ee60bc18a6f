"""Reorgs (``anvil_reorg``, depths 1–5, replacement transactions): the index is rolled back and rebuilt exactly, and
the backend is told: one retraction per orphaned event, then the new branch's events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from offchain.relayer.db import transaction
from offchain.relayer.index import webhooks
from offchain.relayer.index.models import IndexEvent
from offchain.relayer.index.watcher import Watcher, webhook_id
from offchain.relayer.index.webhooks import WebhookWorker
from tests.indexer.kit import (
    SECRET,
    assert_orders_match_chain,
    catch_up,
    drain,
    index_snapshot,
    make_runtime,
    receiver,
)
from tests.relayer.harness import Deployment


def raw_tx(d: Deployment, account: LocalAccount, call: Any, nonce: int, value: int = 0) -> str:
    tx = call.build_transaction({
        "from": account.address, "nonce": nonce, "gas": 600_000, "chainId": d.w3.eth.chain_id,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "value": value,
    })  # fmt: skip
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def events_after(rt: Any, block: int) -> set[str]:
    with rt.sessions() as session:
        return set(session.scalars(select(IndexEvent.id).where(IndexEvent.block_number > block)))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_reorgs_of_depth_one_to_five_roll_back_to_what_a_fresh_index_sees(
    deployment: Deployment, new_db: Callable[[str], str], kind: str
) -> None:
    d = deployment
    rt = make_runtime(d, new_db(kind))
    c, f = d.client, d.freelancer
    with receiver() as hook:
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=hook.url, secret=SECRET)
        watcher, sender = Watcher(rt), WebhookWorker(rt)
        for depth in range(1, 6):
            # an order funded before the window, acted on inside it (so the rollback replays its earlier events)
            old = d.terms()
            d.fund_orders([old])
            catch_up(watcher)
            base = d.w3.eth.block_number
            calls = [(c, d.escrow.functions.submitRequirements(old.orderRef, b"r".ljust(32, b"\0")), 0)]
            calls.append((f, d.escrow.functions.deliver(old.orderRef, b"d".ljust(32, b"\0")), 0))
            while len(calls) < depth:
                t = d.terms()
                calls.append((c, d.escrow.functions.fund(t.as_tuple(), d.quote(t)), t.amount))
            for account, call, value in calls[:depth]:
                d.send(account, call, value)
            assert d.w3.eth.block_number == base + depth
            catch_up(watcher)
            drain(sender, rt)
            orphaned = events_after(rt, base)
            prior = retractions(hook.payloads())
            assert orphaned, "the blocks to be replaced hold events"
            # the replacement branch: the client cancels the old order instead, and funds another one
            nonce = d.w3.eth.get_transaction_count(c.address, base)
            new = d.terms()
            replacement = [
                [raw_tx(d, c, d.escrow.functions.cancel(old.orderRef), nonce), 0],
                [raw_tx(d, c, d.escrow.functions.fund(new.as_tuple(), d.quote(new)), nonce + 1, new.amount), depth - 1],
            ]
            d.chain.rpc("anvil_reorg", depth, replacement)
            catch_up(watcher)
            drain(sender, rt)

            fresh = make_runtime(d, new_db(kind))
            catch_up(Watcher(fresh))
            assert index_snapshot(rt) == index_snapshot(fresh), f"depth {depth}"
            assert_orders_match_chain(d, rt)
            payloads = hook.payloads()
            assert retractions(payloads) - prior == {webhook_id(e) for e in orphaned}, f"depth {depth}"
            # per order: the retraction comes before the new branch's events of that order
            ref = "0x" + old.orderRef.hex()
            types = [p["type"] for p in payloads if p["ref"] == ref]
            assert types[-1] == "order.cancelled" and "event.retracted" in types, types
            assert types.index("event.retracted") < types.index("order.cancelled")
            fresh.engine.dispose()
        ids = hook.ids()
        assert len(ids) == len(set(ids)), "no webhook id twice"
        assert hook.all_signed()
        sender.stop()


def retractions(payloads: list[dict[str, Any]]) -> set[str]:
    return {p["data"]["retractedId"] for p in payloads if p["type"] == "event.retracted"}
