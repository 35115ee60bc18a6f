"""Crash safety: ≥ 500 actions through the API while the relayer is SIGKILLed ≥ 20 times at random moments.

At the end every accepted action landed on chain exactly once -- counted from the chain (events, order
status, the sender's nonce), not from our tables -- and every job is terminal.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from offchain.client import RelayerClient, RelayerHTTPError
from offchain.eip712 import Action, Status
from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker
from offchain.relayer.models import TERMINAL_STATES
from tests.relayer.harness import Deployment, RelayerProcess, database, prepare

ACTIONS = 500
KILLS = 20


def submit_until_accepted(process: RelayerProcess, key: str, body: dict[str, object], idem: str) -> str:
    """What a backend does: retry with the same Idempotency-Key until the relayer answers."""
    while True:
        try:
            with RelayerClient(process.url, key, timeout=10) as client:
                return client.submit_action(body, idempotency_key=idem).id
        except (httpx.HTTPError, RelayerHTTPError) as exc:
            if isinstance(exc, RelayerHTTPError) and exc.status < 500:
                raise
            time.sleep(0.05)  # the relayer is down or restarting: back off, like a backend would


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_action_lands_exactly_once_through_twenty_sigkills(
    deployment: Deployment, tmp_path: Path, kind: str
) -> None:
    d = deployment
    rng = random.Random(20)
    freelancers = [Account.create() for _ in range(ACTIONS)]
    terms = [d.terms(freelancer=f.address) for f in freelancers]
    d.fund_orders(terms)
    bodies = [d.signed_action(f, Action.CANCEL, t.orderRef, nonce=0) for f, t in zip(freelancers, terms, strict=True)]
    start_block = d.w3.eth.block_number
    start_nonce = d.w3.eth.get_transaction_count(d.sender.address)

    with database(kind, tmp_path) as url:
        keys = prepare(url, tmp_path / "keys", d)
        process = RelayerProcess(d, url, tmp_path).start()
        kills = 0
        submitted = threading.Event()

        def killer() -> None:
            nonlocal kills
            while kills < KILLS:
                time.sleep(rng.uniform(0.1, 1.2))  # a random moment in the relayer's life
                process.kill()
                kills += 1
                process.start()

        killing = threading.Thread(target=killer)
        killing.start()
        try:
            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(lambda i: submit_until_accepted(process, keys.backend, bodies[i], f"cancel-{i}"),
                                    range(ACTIONS)))  # fmt: skip
            submitted.set()
        finally:
            killing.join()
        assert kills >= KILLS
        try:
            engine = make_engine(url)
            sessions = make_sessionmaker(engine)
            deadline = time.monotonic() + 120
            while True:
                with sessions() as session:
                    counts = store.count_by_state(session)
                if sum(counts.get(s, 0) for s in TERMINAL_STATES) == ACTIONS or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # the relayer drains its queue (the chain mines on its own: automine)
            engine.dispose()
        finally:
            process.stop()

    assert len(set(ids)) == ACTIONS
    assert counts == {"confirmed": ACTIONS}, counts
    # from the chain
    cancelled = d.events("OrderCancelled", from_block=start_block + 1)
    per_ref: dict[bytes, int] = {}
    for event in cancelled:
        per_ref[bytes(event.args.ref)] = per_ref.get(bytes(event.args.ref), 0) + 1
    assert all(per_ref.get(t.orderRef) == 1 for t in terms), "an action was lost or doubled"
    assert all(d.status(t.orderRef) == Status.CANCELLED for t in terms[:: ACTIONS // 20])
    assert d.w3.eth.get_transaction_count(d.sender.address) - start_nonce == ACTIONS, "a transaction was sent twice"
