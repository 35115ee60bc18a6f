"""The read API over real HTTP: an order with each party's windows, its deliveries, "View All Orders" with filters and
cursor pages, "Billing and Payments" with totals per token, and the admin webhook routes; keys and scopes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from offchain.localchain import free_port
from offchain.relayer import store
from offchain.relayer.api.main import create_app
from offchain.relayer.db import transaction
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.runtime import Runtime
from tests.indexer.kit import catch_up, make_runtime, play_every_path
from tests.relayer.harness import NATIVE, Deployment

Served = tuple[str, Runtime, dict[str, str]]


@pytest.fixture(scope="module")
def served(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    d = deployment
    play_every_path(d)
    rt = make_runtime(d, f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.sqlite'}")
    catch_up(Watcher(rt))
    with transaction(rt.sessions) as session:
        keys = {scope: store.create_api_key(session, name=scope, scopes=[scope]) for scope in ("backend", "admin")}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # waiting for our server to bind, not for the chain
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", rt, keys
    server.should_exit = True
    thread.join(5)


def get(served: Served, path: str, scope: str = "backend", **params: Any) -> httpx.Response:
    url, _, keys = served
    return httpx.get(url + path, params=params, headers={"Authorization": f"Bearer {keys[scope]}"}, timeout=10)


def test_an_order_shows_its_state_deadlines_and_what_each_party_may_do_from_when(
    served: Served, deployment: Deployment
) -> None:
    d = deployment
    listing = get(served, "/v1/orders", status="Disputed").json()["items"]
    assert listing, "the script leaves a disputed order"
    order = get(served, f"/v1/orders/{listing[0]['ref']}").json()
    assert order["status"] == "Disputed"
    assert {a["action"] for a in order["clientActions"]["actions"]} == {"settle"}
    # a delivered order waiting for review: the client may accept now; anyone may finalize after reviewBy
    t = d.terms()
    d.fund_orders([t])
    d.send(d.client, d.escrow.functions.submitRequirements(t.orderRef, b"r".ljust(32, b"\0")))
    d.send(d.freelancer, d.escrow.functions.deliver(t.orderRef, b"d".ljust(32, b"\0")))
    catch_up(Watcher(served[1]))
    order = get(served, f"/v1/orders/0x{t.orderRef.hex()}").json()
    assert order["status"] == "Delivered" and order["reviewBy"] > order["now"]
    client = {a["action"]: a for a in order["clientActions"]["actions"]}
    assert client["accept"]["availableNow"] and {"requestRevision", "requestRefund", "openDispute"} <= set(client)
    finalize = next(a for a in order["anyone"] if a["action"] == "finalize")
    assert not finalize["availableNow"] and finalize["availableFrom"] == order["reviewBy"] + 1
    assert {a["action"] for a in order["freelancerActions"]["actions"]} >= {"openDispute"}
    deliveries = get(served, f"/v1/orders/0x{t.orderRef.hex()}/deliveries").json()
    assert [(x["index"], x["lateness"]) for x in deliveries] == [(0, "OnTime")]
    assert get(served, "/v1/orders/0x" + "ab" * 32).status_code == 404


def test_view_all_orders_filters_by_party_and_status_in_cursor_pages(served: Any, deployment: Deployment) -> None:
    everything = get(served, "/v1/orders", limit=200).json()["items"]
    seen: list[str] = []
    cursor = None
    while True:
        page = get(served, "/v1/orders", limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [o["ref"] for o in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [o["ref"] for o in everything] and len(seen) == len(set(seen)) > 3
    completed = get(served, "/v1/orders", status="Completed", party=deployment.freelancer.address).json()["items"]
    assert completed and all(o["status"] == "Completed" for o in completed)
    assert get(served, "/v1/orders", party=deployment.outsider.address).json()["items"] == []
    assert get(served, "/v1/orders", status="Nope").status_code == 422


def test_billing_and_payments_totals_equal_the_withdrawable_balance(served: Any, deployment: Deployment) -> None:
    d = deployment
    for account in (d.client, d.freelancer, d.fee_recipient, d.accounts[7]):
        body = get(served, f"/v1/accounts/{account.address}/payments", limit=2).json()
        for token in (NATIVE, d.token.address):
            on_chain = d.escrow.functions.withdrawable(token, account.address).call()
            assert int(body["totals"].get(token, {"balance": "0"})["balance"]) == on_chain
        items, cursor = list(body["items"]), body["nextCursor"]
        while cursor:
            page = get(served, f"/v1/accounts/{account.address}/payments", limit=2, cursor=cursor).json()
            items, cursor = items + page["items"], page["nextCursor"]
        kinds = {i["kind"] for i in items}
        assert kinds, account.address
        assert sum(int(i["amount"]) for i in items if i["kind"] == "withdrawn" and i["token"] == NATIVE) == int(
            body["totals"].get(NATIVE, {"withdrawn": "0"})["withdrawn"]
        )


def test_reads_need_a_backend_key_and_webhook_routes_an_admin_key(served: Any) -> None:
    url = served[0]
    assert httpx.get(url + "/v1/orders").status_code == 401
    assert get(served, "/v1/webhooks/endpoints").status_code == 403
    created = httpx.post(url + "/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"},
                         headers={"Authorization": f"Bearer {served[2]['admin']}"})  # fmt: skip
    assert created.status_code == 201 and created.json()["secret"]
    listed = get(served, "/v1/webhooks/endpoints", scope="admin").json()
    assert [e["url"] for e in listed] == ["http://127.0.0.1:9/hook"] and listed[0]["secret"] is None
    assert get(served, "/v1/webhooks/deliveries", scope="admin", state="dead").json() == []
    replay = httpx.post(url + "/v1/webhooks/dead-letters/replay", json={},
                        headers={"Authorization": f"Bearer {served[2]['admin']}"})  # fmt: skip
    assert replay.json() == {"requeued": 0}


def test_openapi_lists_the_read_routes(served: Any) -> None:
    paths = httpx.get(served[0] + "/openapi.json").json()["paths"]
    assert {"/v1/orders", "/v1/orders/{ref}", "/v1/orders/{ref}/deliveries", "/v1/accounts/{address}/payments",
            "/v1/webhooks/endpoints"} <= set(paths)  # fmt: skip
