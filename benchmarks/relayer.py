"""Relayer benchmark: N signed actions through the HTTP API, against the chain's ceiling and a naive sender.

All three runs execute the same kind of transaction on the same anvil: a freelancer's signed ``Cancel``
(``executeWithSig``) of its own funded order, one order per action.

1. **relayer** -- ``taskescrow relayer serve`` (SQLite) in a subprocess; ``--clients`` threads POST the actions to
   ``/v1/actions``; measured from the first request to the last job confirmed. API latency per request.
2. **ceiling** -- the same N transactions, pre-signed, sent as raw transactions one after another on one
   keep-alive connection; measured until the last receipt. Under automine each gets a block of its own, so this
   is anvil's block rate, not the most it can absorb: the relayer's batched sends are mined several to a block
   (see the README's relayer section).
3. **naive** -- web3.py, per action: build, sign, send, wait for the receipt.

Prints all three, the ratio relayer / ceiling, p50/p99 API latency, and lost/doubled counted from the chain
(``OrderCancelled`` events per order and the sender's nonce); writes ``benchmarks/results/relayer.json``.
Run with ``make bench-relayer`` (``N=...`` to change the size).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from offchain.client import RelayerClient
from offchain.eip712 import Action, OrderTerms
from offchain.localchain import LocalChain
from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker
from tests.relayer.harness import Deployment, RelayerProcess, database, deploy, prepare

RESULTS = Path(__file__).with_name("results") / "relayer.json"


def orders(d: Deployment, n: int) -> tuple[list[OrderTerms], list[LocalAccount], list[dict[str, Any]]]:
    freelancers = [Account.create() for _ in range(n)]
    terms = [d.terms(freelancer=f.address, amount=10**12) for f in freelancers]
    d.fund_orders(terms)
    bodies = [d.signed_action(f, Action.CANCEL, t.orderRef, nonce=0) for f, t in zip(freelancers, terms, strict=True)]
    return terms, freelancers, bodies


def call_args(body: dict[str, Any]) -> tuple[tuple[Any, ...], bytes]:
    b = bytes.fromhex
    action = (body["party"], int(Action[body["action"]]), b(body["orderRef"][2:]), b(body["args"][2:]),
              body["nonce"], body["deadline"])  # fmt: skip
    return action, b(body["signature"][2:])


def count_lost_doubled(d: Deployment, terms: list[OrderTerms], from_block: int) -> tuple[int, int]:
    seen: dict[bytes, int] = {}
    for event in d.events("OrderCancelled", from_block=from_block):
        seen[bytes(event.args.ref)] = seen.get(bytes(event.args.ref), 0) + 1
    lost = sum(1 for t in terms if seen.get(t.orderRef, 0) == 0)
    doubled = sum(seen.get(t.orderRef, 0) - 1 for t in terms if seen.get(t.orderRef, 0) > 1)
    return lost, doubled


def run_relayer(d: Deployment, bodies: list[dict[str, Any]], clients: int, workdir: Path) -> dict[str, Any]:
    with database("sqlite", workdir) as url:
        keys = prepare(url, workdir / "keys", d)
        process = RelayerProcess(d, url, workdir, env_extra={"TASKESCROW_LOG_LEVEL": "WARNING"}).start()
        latencies: list[float] = []
        try:
            pool_clients = [RelayerClient(process.url, keys.backend) for _ in range(clients)]

            def submit(i: int) -> str:
                started = time.perf_counter()
                job = pool_clients[i % clients].submit_action(bodies[i], idempotency_key=f"bench-{i}")
                latencies.append(time.perf_counter() - started)
                return job.id

            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(submit, range(len(bodies))))
            while True:
                with sessions() as session:
                    counts = store.count_by_state(session)
                if counts.get("confirmed", 0) + counts.get("failed", 0) >= len(bodies):
                    break
                time.sleep(0.01)
            elapsed = time.perf_counter() - start
            engine.dispose()
            for c in pool_clients:
                c.close()
        finally:
            process.stop()
    latencies.sort()
    return {
        "tps": len(bodies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "failed": counts.get("failed", 0),
    }


def run_ceiling(d: Deployment, bodies: list[dict[str, Any]], sender: LocalAccount) -> float:
    nonce = d.w3.eth.get_transaction_count(sender.address)
    fee = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "chainId": d.w3.eth.chain_id, "gas": 300_000}
    raws = []
    for i, body in enumerate(bodies):
        tx = d.escrow.functions.executeWithSig(*call_args(body)).build_transaction(
            {"from": sender.address, "nonce": nonce + i, **fee}
        )
        raws.append("0x" + sender.sign_transaction(tx).raw_transaction.hex())
    with httpx.Client(timeout=30) as http:
        start = time.perf_counter()
        for i, raw in enumerate(raws):
            payload = {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
            http.post(d.chain.url, json=payload).json()["result"]
        # anvil's automine can leave ready transactions in its pool after a burst of sends, or drop them: when the
        # sender's nonce stops moving, send the rest again and mine a block (the relayer does the same by itself:
        # its resender re-sends and replaces what is not mined)
        seen, stalled_since = -1, time.perf_counter()
        while (mined := d.w3.eth.get_transaction_count(sender.address)) < nonce + len(raws):
            if mined != seen:
                seen, stalled_since = mined, time.perf_counter()
            elif time.perf_counter() - stalled_since > 0.5:
                for j, raw in enumerate(raws[mined - nonce : mined - nonce + 500]):
                    http.post(d.chain.url, json={"jsonrpc": "2.0", "id": j, "method": "eth_sendRawTransaction",
                                                 "params": [raw]})  # fmt: skip
                d.chain.mine()
                stalled_since = time.perf_counter()
            time.sleep(0.01)
        return len(raws) / (time.perf_counter() - start)


def run_naive(d: Deployment, bodies: list[dict[str, Any]], sender: LocalAccount) -> float:
    start = time.perf_counter()
    for body in bodies:
        tx = d.escrow.functions.executeWithSig(*call_args(body)).build_transaction(
            {"from": sender.address, "nonce": d.w3.eth.get_transaction_count(sender.address)}
        )
        tx_hash = d.w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        d.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
    return len(bodies) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    n = args.n
    with LocalChain() as chain, tempfile.TemporaryDirectory() as tmp:
        d = deploy(chain)
        print(f"funding {3 * n} orders ...", flush=True)
        relayed, _, relayed_bodies = orders(d, n)
        _, _, ceiling_bodies = orders(d, n)
        _, _, naive_bodies = orders(d, n)
        start_block = d.w3.eth.block_number + 1
        start_nonce = d.w3.eth.get_transaction_count(d.sender.address)

        # naive first: a burst of raw sends (the ceiling) can leave anvil's automine pool stuck for a while
        print("naive ...", flush=True)
        naive_tps = run_naive(d, naive_bodies, d.accounts[7])
        print("relayer ...", flush=True)
        relayer = run_relayer(d, relayed_bodies, args.clients, Path(tmp))
        lost, doubled = count_lost_doubled(d, relayed, start_block)
        doubled += max(0, d.w3.eth.get_transaction_count(d.sender.address) - start_nonce - n)
        print("ceiling ...", flush=True)
        ceiling_tps = run_ceiling(d, ceiling_bodies, d.accounts[9])

    result = {
        "n": n,
        "relayer_tps": round(relayer["tps"], 1),
        "ceiling_tps": round(ceiling_tps, 1),
        "naive_tps": round(naive_tps, 1),
        "ratio": round(relayer["tps"] / ceiling_tps, 3),
        "p50_ms": round(relayer["p50_ms"], 1),
        "p99_ms": round(relayer["p99_ms"], 1),
        "lost": lost,
        "doubled": doubled,
    }
    print(f"relayer   {result['relayer_tps']:8.1f} actions/s  (request -> confirmed, {args.clients} clients)")
    print(f"ceiling   {result['ceiling_tps']:8.1f} tx/s       (pre-signed raw transactions)")
    print(f"naive     {result['naive_tps']:8.1f} tx/s       (web3.py send-and-wait)")
    print(f"ratio     {result['ratio']:8.3f}            (relayer / ceiling; target >= 0.5)")
    print(f"API p50   {result['p50_ms']:8.1f} ms   p99 {result['p99_ms']:.1f} ms")
    print(f"lost {lost}  doubled {doubled}  (from the chain)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
