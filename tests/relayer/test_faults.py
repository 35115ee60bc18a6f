"""Faults: an unreachable RPC, a transaction stuck underpriced, the key's nonce used elsewhere, a reorg,
two relayer processes on one PostgreSQL database and one key, and the API and workers as separate processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account

from offchain.client import Job, RelayerClient, RelayerHTTPError
from offchain.eip712 import Action, OrderTerms, Status
from offchain.localchain import LocalChain
from tests.relayer.harness import Deployment, RelayerProcess, database, deploy, prepare
from tests.relayer.proxy import TcpProxy


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Deployment]:
    """A chain of this test's own (faults change mining and history)."""
    with LocalChain() as chain:
        yield deploy(chain)


def cancellations(d: Deployment, n: int) -> tuple[list[OrderTerms], list[dict[str, object]]]:
    """``n`` funded orders, each with its own freelancer, and each freelancer's signed Cancel (nonce 0)."""
    freelancers = [Account.create() for _ in range(n)]
    terms = [d.terms(freelancer=f.address) for f in freelancers]
    d.fund_orders(terms)
    return terms, [
        d.signed_action(f, Action.CANCEL, t.orderRef, nonce=0) for f, t in zip(freelancers, terms, strict=True)
    ]


def landed_once(d: Deployment, terms: list[OrderTerms], from_block: int) -> bool:
    refs = [bytes(e.args.ref) for e in d.events("OrderCancelled", from_block=from_block)]
    return all(refs.count(t.orderRef) == 1 for t in terms)


def test_jobs_survive_an_rpc_outage_and_a_dead_first_url(fresh: Deployment, tmp_path: Path) -> None:
    """The node is unreachable for 3 s mid-load (the workers' backoff tops out at 2 s, so 3 s spans several failed
    cycles of every worker; a 30 s outage exercises nothing more and would triple this test's time)."""
    d = fresh
    proxy = TcpProxy("127.0.0.1", d.chain.port)
    dead = TcpProxy("127.0.0.1", d.chain.port)
    dead.down()
    terms, bodies = cancellations(d, 60)
    start_block, start_nonce = d.w3.eth.block_number + 1, d.w3.eth.get_transaction_count(d.sender.address)
    with database("sqlite", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        process = RelayerProcess(d, url, tmp_path, rpc_urls=[dead.url, proxy.url]).start()
        try:
            with RelayerClient(process.url, keys.backend) as api:
                ids = [api.submit_action(b, idempotency_key=f"out-{i}").id for i, b in enumerate(bodies[:50])]
                proxy.down()
                with pytest.raises(RelayerHTTPError) as err:
                    api.submit_action(bodies[50], idempotency_key="during-outage")
                assert (err.value.status, err.value.code) == (503, "rpc_unavailable")
                time.sleep(3)  # the outage itself: wall-clock time is what is under test here
                proxy.up()
                ids += [api.submit_action(b, idempotency_key=f"out-{50 + i}").id for i, b in enumerate(bodies[50:])]
                jobs = [api.wait(i, timeout=60) for i in ids]
        finally:
            process.stop()
            proxy.close()
            dead.close()
    assert {j.state for j in jobs} == {"confirmed"}
    assert landed_once(d, terms, start_block)
    assert d.w3.eth.get_transaction_count(d.sender.address) - start_nonce == len(terms)


def test_underpriced_transaction_is_replaced_until_it_lands(fresh: Deployment, tmp_path: Path) -> None:
    d = fresh
    base_fee = int(d.w3.eth.get_block("latest")["baseFeePerGas"])
    (terms,), (body,) = cancellations(d, 1)
    with database("sqlite", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        process = RelayerProcess(d, url, tmp_path, env_extra={
            "TASKESCROW_FEE_MODE": "legacy", "TASKESCROW_GAS_PRICE_WEI": str(max(base_fee // 16, 1)),
            "TASKESCROW_BUMP_PERCENT": "100", "TASKESCROW_BUMP_AFTER_SECONDS": "0.3",
        }).start()  # fmt: skip
        try:
            with RelayerClient(process.url, keys.backend) as api:
                job = api.wait(api.submit_action(body).id, timeout=60)
        finally:
            process.stop()
    assert job.state == "confirmed"
    assert len(job.attempts) >= 3
    prices = [a.gas_price for a in job.attempts]
    assert prices == sorted(prices) and prices[0] < base_fee <= prices[-1] * 2
    assert all(a.priority_fee is None for a in job.attempts)  # legacy pricing, as on BSC
    mined = [a for a in job.attempts if a.state == "mined"]
    assert len(mined) == 1 and {a.nonce for a in job.attempts} == {job.nonce}
    assert d.status(terms.orderRef) == Status.CANCELLED


def test_nonce_used_by_someone_else_is_realigned_and_the_job_lands(fresh: Deployment, tmp_path: Path) -> None:
    d = fresh
    (terms,), (body,) = cancellations(d, 1)
    start_block = d.w3.eth.block_number + 1
    w3 = d.w3
    with database("sqlite", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        process = RelayerProcess(d, url, tmp_path, env_extra={"TASKESCROW_GAS_PRICE_MAX_WEI": str(200 * 10**9)}).start()
        try:
            with RelayerClient(process.url, keys.backend) as api:
                d.chain.rpc("evm_setAutomine", False)
                taken = w3.eth.get_transaction_count(d.sender.address)
                # someone else uses the relayer's key, at a price the relayer will not outbid
                other = d.sender.sign_transaction({"to": d.outsider.address, "value": 1, "gas": 21_000, "nonce": taken,
                    "gasPrice": 1_000 * 10**9, "chainId": w3.eth.chain_id})  # fmt: skip
                w3.eth.send_raw_transaction(other.raw_transaction)
                job = api.submit_action(body)
                api.wait(job.id, states=frozenset({"in_progress", "unconfirmed"}))
                d.chain.rpc("evm_setAutomine", True)
                d.chain.mine()  # the other transaction lands on the nonce our job had
                job = api.wait(job.id, timeout=60, on_poll=d.chain.mine)
        finally:
            process.stop()
    assert job.state == "confirmed"
    assert job.nonce == taken + 1
    assert any(a.state == "abandoned" and a.nonce == taken for a in job.attempts)
    assert landed_once(d, [terms], start_block)


def test_reorged_out_transaction_is_sent_again_and_lands_once(fresh: Deployment, tmp_path: Path) -> None:
    d = fresh
    (terms,), (body,) = cancellations(d, 1)
    start_block = d.w3.eth.block_number + 1
    with database("sqlite", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        process = RelayerProcess(d, url, tmp_path, env_extra={"TASKESCROW_CONFIRMATIONS": "3"}).start()
        try:
            with RelayerClient(process.url, keys.backend) as api:
                job = api.wait(api.submit_action(body).id, states=frozenset({"mined"}))
                first_block = job.attempts[0].block_hash
                d.chain.rpc("anvil_reorg", 1, [])  # the block holding our transaction is replaced by an empty one
                job = api.wait(job.id, timeout=60, on_poll=d.chain.mine)
        finally:
            process.stop()
    assert job.state == "confirmed"
    (attempt,) = [a for a in job.attempts if a.state == "mined"]
    assert attempt.block_hash != first_block
    assert landed_once(d, [terms], start_block)
    assert d.status(terms.orderRef) == Status.CANCELLED


def test_two_relayers_on_one_postgres_database_and_key_never_collide(fresh: Deployment, tmp_path: Path) -> None:
    d = fresh
    terms, bodies = cancellations(d, 200)
    start_block, start_nonce = d.w3.eth.block_number + 1, d.w3.eth.get_transaction_count(d.sender.address)
    with database("postgresql", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        first = RelayerProcess(d, url, tmp_path).start()
        second = RelayerProcess(d, url, tmp_path).start()
        try:
            clients = [RelayerClient(p.url, keys.backend) for p in (first, second)]

            def submit(i: int) -> Job:
                return clients[i % 2].submit_action(bodies[i], idempotency_key=f"two-{i}")

            with ThreadPoolExecutor(8) as pool:
                jobs = list(pool.map(submit, range(len(bodies))))
                # the same requests again, to the other process: the same jobs, nothing new
                again = list(pool.map(lambda i: clients[(i + 1) % 2].submit_action(bodies[i],
                                      idempotency_key=f"two-{i}"), range(len(bodies))))  # fmt: skip
            assert [j.id for j in again] == [j.id for j in jobs]
            done = [clients[0].wait(j.id, timeout=90) for j in jobs]
            for c in clients:
                c.close()
        finally:
            first.stop()
            second.stop()
    assert {j.state for j in done} == {"confirmed"}
    nonces = [j.nonce for j in done]
    assert len(set(nonces)) == len(nonces)
    assert landed_once(d, terms, start_block)
    assert d.w3.eth.get_transaction_count(d.sender.address) - start_nonce == len(terms)


def test_api_and_workers_run_as_separate_processes_and_a_queued_job_can_be_cancelled(
    fresh: Deployment, tmp_path: Path
) -> None:
    d = fresh
    terms, bodies = cancellations(d, 2)
    start_nonce = d.w3.eth.get_transaction_count(d.sender.address)
    with database("sqlite", tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        api_only = RelayerProcess(d, url, tmp_path, env_extra={"TASKESCROW_RUN_WORKERS": "false"}).start()
        workers = RelayerProcess(d, url, tmp_path, env_extra={"TASKESCROW_RUN_API": "false"})
        try:
            with RelayerClient(api_only.url, keys.backend) as api:
                kept, dropped = (api.submit_action(b) for b in bodies)
                cancelled = api.cancel(dropped.id)
                assert cancelled.state == "cancelled" and cancelled.attempts == []
                with pytest.raises(RelayerHTTPError) as err:
                    api.cancel(dropped.id)
                assert err.value.status == 409
                workers.start(wait_http=False)
                kept = api.wait(kept.id, timeout=60)
                assert api.job(dropped.id).state == "cancelled"
        finally:
            workers.stop()
            api_only.stop()
    assert kept.state == "confirmed"
    assert (
        d.status(terms[0].orderRef) == Status.CANCELLED and d.status(terms[1].orderRef) == Status.AWAITING_REQUIREMENTS
    )
    assert d.w3.eth.get_transaction_count(d.sender.address) - start_nonce == 1
