"""Index benchmark: backfill throughput and live webhook lag on anvil.

1. Generates >= 20,000 escrow events fast: pre-signed raw transactions (web3.py / eth-account) sent in JSON-RPC
   batches with automine off, then mined in big blocks (fund + submitRequirements by the client, then deliver by
   the freelancer: three events per order).
2. Backfill: a fresh SQLite index of the whole range, from scratch; events indexed per second.
3. Live lag: watcher and webhook sender running as threads; for each sample one block with one event is mined and
   the time until the local receiver gets its webhook is measured (p50 / p99).

Writes ``benchmarks/results/index.json``: events, backfill_events_per_s, live_lag_p50_ms, live_lag_p99_ms.
Run with ``make bench-index`` (``--orders`` and ``--samples`` to change the size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from offchain.eip712 import OrderTerms, sign_digest, terms_digest
from offchain.localchain import LocalChain
from offchain.relayer.db import transaction
from offchain.relayer.index import webhooks
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import WebhookWorker
from tests.indexer.kit import Receiver, make_runtime
from tests.relayer.harness import NATIVE, Deployment, deploy

RESULTS = Path(__file__).with_name("results") / "index.json"
H = b"h".ljust(32, b"\0")


class Encoder:
    """Calldata and signed raw transactions without web3's per-call ABI validation (it dominates otherwise)."""

    FUND = function_signature_to_4byte_selector(
        "fund((bytes32,address,address,address,uint256,uint16,uint32,uint8,uint64),bytes)"
    )
    SUBMIT = function_signature_to_4byte_selector("submitRequirements(bytes32,bytes32)")
    DELIVER = function_signature_to_4byte_selector("deliver(bytes32,bytes32)")

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.chain_id = d.w3.eth.chain_id
        self.domain = d.domain

    def terms(self, expiry: int) -> OrderTerms:
        d = self.d
        return OrderTerms(os.urandom(32), d.client.address, d.freelancer.address, NATIVE, 10**9, 1_000, 5 * 86_400, 2,
                          expiry)  # fmt: skip

    def fund(self, t: OrderTerms) -> bytes:
        quote = sign_digest(self.d.quote_signer.key, terms_digest(self.domain, t))
        return self.FUND + encode(
            ["(bytes32,address,address,address,uint256,uint16,uint32,uint8,uint64)", "bytes"], [t.as_tuple(), quote]
        )

    def raw(self, account: LocalAccount, data: bytes, nonce: int, value: int = 0) -> str:
        tx = {"to": self.d.escrow.address, "data": data, "nonce": nonce, "gas": 300_000, "chainId": self.chain_id,
              "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "value": value}  # fmt: skip
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _send_and_mine(d: Deployment, raws: list[str]) -> None:
    with httpx.Client(timeout=120) as client:
        for start in range(0, len(raws), 500):
            batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                     for i, raw in enumerate(raws[start : start + 500])]  # fmt: skip
            replies = client.post(d.chain.url, json=batch).json()
            errors = [r["error"] for r in replies if "error" in r]
            assert not errors, errors[:3]
        while int(str(d.chain.rpc("txpool_status")["pending"]), 16):  # type: ignore[index]
            d.chain.mine()


def generate(d: Deployment, orders: int) -> None:
    d.chain.rpc("evm_setAutomine", False)
    c, f = d.client, d.freelancer
    enc = Encoder(d)
    nonce_c = d.w3.eth.get_transaction_count(c.address)
    nonce_f = d.w3.eth.get_transaction_count(f.address)
    expiry = d.now() + 30 * 86_400
    terms = [enc.terms(expiry) for _ in range(orders)]
    funding = [enc.raw(c, enc.fund(t), nonce_c + i, t.amount) for i, t in enumerate(terms)]
    submits = [enc.raw(c, enc.SUBMIT + t.orderRef + H, nonce_c + orders + i) for i, t in enumerate(terms)]
    delivers = [enc.raw(f, enc.DELIVER + t.orderRef + H, nonce_f + i) for i, t in enumerate(terms)]
    _send_and_mine(d, funding + submits)
    _send_and_mine(d, delivers)
    d.chain.rpc("evm_setAutomine", True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=7_000, help="orders to create (3 events each)")
    parser.add_argument("--samples", type=int, default=200, help="live lag samples")
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args()
    with LocalChain(extra_args=["--gas-limit", "300000000"]) as chain, tempfile.TemporaryDirectory() as tmp:
        d = deploy(chain)
        started = time.perf_counter()
        generate(d, args.orders)
        print(f"generated {args.orders} orders in {time.perf_counter() - started:.1f}s")

        rt = make_runtime(d, f"sqlite:///{Path(tmp) / 'bench.sqlite'}", poll_interval=args.poll_interval,
                          index_max_range=5_000)  # fmt: skip
        watcher = Watcher(rt)
        watcher.run_once()  # initialise (reads the deployment), not timed
        with rt.sessions() as session:
            from offchain.relayer.index.watcher import index_counts

            assert index_counts(session)["index_events"] == 0
        started = time.perf_counter()
        while watcher.run_once():
            pass
        backfill = time.perf_counter() - started
        with rt.sessions() as session:
            events = index_counts(session)["index_events"]
        assert events >= 3 * args.orders, f"only {events} events were indexed"
        rate = events / backfill
        print(f"backfill: {events} events in {backfill:.2f}s = {rate:,.0f} events/s")

        arrivals: dict[str, float] = {}
        receiver = Receiver(listener=lambda item: arrivals.setdefault(item.json["ref"], time.perf_counter())).start()
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=receiver.url, secret="bench")
        sender = WebhookWorker(rt)
        watcher.start()
        sender.start()
        lags: list[float] = []
        d.chain.rpc("evm_setAutomine", False)
        nonce = d.w3.eth.get_transaction_count(d.client.address)
        enc, expiry = Encoder(d), d.now() + 30 * 86_400
        for i in range(args.samples):
            t = enc.terms(expiry)
            raw = enc.raw(d.client, enc.fund(t), nonce + i, t.amount)
            d.chain.rpc("eth_sendRawTransaction", raw)
            ref = "0x" + t.orderRef.hex()
            d.chain.mine()
            mined = time.perf_counter()
            deadline = mined + 10
            while ref not in arrivals and time.perf_counter() < deadline:
                time.sleep(0.001)  # waiting for the relayer's webhook: this is what is measured
            assert ref in arrivals, f"no webhook for sample {i}"
            lags.append((arrivals[ref] - mined) * 1000)
        watcher.stop()
        sender.stop()
        receiver.stop()
        lags.sort()
        p50 = statistics.median(lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(f"live lag: p50 {p50:.0f} ms, p99 {p99:.0f} ms (poll interval {args.poll_interval * 1000:.0f} ms)")
        result = {
            "events": events,
            "backfill_seconds": round(backfill, 3),
            "backfill_events_per_s": round(rate, 1),
            "live_lag_p50_ms": round(p50, 1),
            "live_lag_p99_ms": round(p99, 1),
            "live_samples": len(lags),
            "poll_interval_ms": args.poll_interval * 1000,
            "database": "sqlite",
            "cpus": os.cpu_count(),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
