"""The submitter, confirmer and resender against the in-memory FakeChain (one cycle at a time, no threads).

The same behaviours run against real anvil in ``test_faults.py`` and ``test_crash.py``; here each branch is
driven exactly: a crash between signing and sending, a nonce taken by someone else, a reorg, a revert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector

from offchain.relayer import store
from offchain.relayer.confirmer import Confirmer
from offchain.relayer.db import make_engine, make_sessionmaker, migrate, transaction
from offchain.relayer.escrow import Escrow, load_abi
from offchain.relayer.exceptions import InvalidTransition, RpcUnavailable
from offchain.relayer.fakechain import FakeChain
from offchain.relayer.keys import Signer
from offchain.relayer.models import Transaction
from offchain.relayer.resender import Resender
from offchain.relayer.runtime import Runtime
from offchain.relayer.settings import Settings
from offchain.relayer.submitter import Submitter
from tests.relayer.harness import ARTIFACT

ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'units.sqlite'}"
    migrate(url)
    signer = Signer(Account.create())
    settings = Settings(database_url=url, escrow_address=ESCROW, sender_address=signer.address,
                        rebroadcast_after_seconds=0, bump_after_seconds=3600)  # fmt: skip
    engine = make_engine(url)
    yield Runtime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        chain=FakeChain(),
        escrow=Escrow(ESCROW, load_abi(ARTIFACT)),
        chain_id=31337,
        signers={signer.address.lower(): signer},
    )
    engine.dispose()


def chain(rt: Runtime) -> FakeChain:
    assert isinstance(rt.chain, FakeChain)
    return rt.chain


def queue(rt: Runtime, n: int = 1) -> list[str]:
    ids = []
    with transaction(rt.sessions) as session:
        for _ in range(n):
            job = store.create_queued_transaction(
                session, idempotency_key=str(uuid.uuid4()), req_hash="h", kind="finalize", params={},
                from_address=rt.sender.address, to_address=ESCROW, data=b"\x01", value=0, gas_limit=100_000,
                chain_id=31337, api_key_id=None,
            )  # fmt: skip
            ids.append(job.id)
    return ids


def job(rt: Runtime, tx_id: str) -> Transaction:
    with rt.sessions() as session:
        found = store.get_transaction(session, tx_id=tx_id)
    assert found is not None
    return found


def test_submitter_gives_consecutive_nonces_and_sends_a_batch_without_waiting_for_receipts(rt: Runtime) -> None:
    chain(rt).automine = False
    ids = queue(rt, 5)
    assert Submitter(rt).run_once() == 5
    jobs = [job(rt, i) for i in ids]
    assert [j.nonce for j in jobs] == [0, 1, 2, 3, 4]
    assert {j.state for j in jobs} == {"unconfirmed"}
    assert len(chain(rt).mempool) == 5 and not chain(rt).mined


def test_an_attempt_signed_before_a_crash_is_sent_with_the_same_bytes_on_start(rt: Runtime) -> None:
    (tx_id,) = queue(rt)
    fake = chain(rt)

    def unreachable(raws: object) -> None:  # the node goes away right after the nonce and signature are stored
        raise RpcUnavailable("connection refused")

    fake.send_raw_many = unreachable  # type: ignore[method-assign,assignment]
    with pytest.raises(RpcUnavailable):
        Submitter(rt).run_once()
    stored = job(rt, tx_id)
    assert stored.state == "in_progress" and stored.attempts[0].state == "signed"
    del fake.send_raw_many
    assert Submitter(rt).resume_in_progress() == 1  # what a restarted process does first
    assert chain(rt).sent[-1] == stored.attempts[0].hash
    assert job(rt, tx_id).state == "unconfirmed"


def test_job_is_confirmed_only_at_the_configured_depth(rt: Runtime) -> None:
    rt.settings.confirmations = 3
    (tx_id,) = queue(rt)
    Submitter(rt).run_once()
    Confirmer(rt).run_once()
    assert job(rt, tx_id).state == "mined"
    chain(rt).mine()
    Confirmer(rt).run_once()
    assert job(rt, tx_id).state == "mined"
    chain(rt).mine()
    Confirmer(rt).run_once()
    assert job(rt, tx_id).state == "confirmed"


def test_reorged_out_job_goes_back_to_unconfirmed_and_is_sent_again(rt: Runtime) -> None:
    rt.settings.confirmations = 3
    (tx_id,) = queue(rt)
    Submitter(rt).run_once()
    Confirmer(rt).run_once()
    first_block = job(rt, tx_id).attempts[0].block_hash
    chain(rt).reorg(1)
    Confirmer(rt).run_once()
    assert job(rt, tx_id).state == "unconfirmed"
    assert Resender(rt).run_once() == 1  # the same signed bytes again: mined in a new block
    Confirmer(rt).run_once()
    chain(rt).mine(2)
    Confirmer(rt).run_once()
    final = job(rt, tx_id)
    assert final.state == "confirmed" and final.attempts[0].block_hash != first_block
    assert len(final.attempts) == 1


def test_nonce_used_by_someone_else_requeues_the_job_for_a_new_nonce(rt: Runtime) -> None:
    fake = chain(rt)
    fake.automine = False
    (tx_id,) = queue(rt)
    Submitter(rt).run_once()
    fake.mempool.clear()  # another transaction of our key won nonce 0
    fake.use_nonce(rt.sender.address)
    Confirmer(rt).run_once()
    requeued = job(rt, tx_id)
    assert requeued.state == "queued" and requeued.nonce is None
    assert {a.state for a in requeued.attempts} == {"abandoned"}
    fake.automine = True
    Submitter(rt).run_once()
    Confirmer(rt).run_once()
    final = job(rt, tx_id)
    assert final.state == "confirmed" and final.nonce == 1


def test_revert_is_terminal_with_the_decoded_custom_error_and_never_resent(rt: Runtime) -> None:
    fake = chain(rt)
    selector = function_signature_to_4byte_selector("WrongStatus(bytes32,uint8)")
    fake.reverting = {"*"}
    fake.revert_data = selector + encode(["bytes32", "uint8"], [b"\x11" * 32, 8])
    (tx_id,) = queue(rt)
    Submitter(rt).run_once()
    Confirmer(rt).run_once()
    failed = job(rt, tx_id)
    assert failed.state == "failed" and failed.error == "WrongStatus"
    assert failed.error_reason is not None and "COMPLETED" in failed.error_reason
    sent = len(fake.sent)
    for worker in (Submitter(rt), Resender(rt), Confirmer(rt)):
        worker.run_once()
    assert len(fake.sent) == sent


def test_stuck_underpriced_attempt_is_replaced_with_a_higher_price_on_the_same_nonce(rt: Runtime) -> None:
    fake = chain(rt)
    rt.settings.fee_mode = "legacy"
    rt.settings.gas_price_wei = fake.base_fee // 2  # below what the chain mines
    rt.settings.bump_after_seconds = 0
    rt.settings.bump_percent = 50
    (tx_id,) = queue(rt)
    Submitter(rt).run_once()
    assert job(rt, tx_id).state == "unconfirmed" and not fake.mined
    rt.settings.gas_price_wei = 0
    for _ in range(3):
        Resender(rt).run_once()
        Confirmer(rt).run_once()
    final = job(rt, tx_id)
    assert final.state == "confirmed"
    prices = [int(a.gas_price) for a in final.attempts]
    assert len(prices) >= 2 and prices == sorted(prices) and {a.nonce for a in final.attempts} == {0}
    assert [a.state for a in final.attempts].count("mined") == 1


def test_only_a_queued_job_can_be_cancelled(rt: Runtime) -> None:
    first, second = queue(rt, 2)
    with transaction(rt.sessions) as session:
        store.update_queued_to_cancelled(session, tx_id=first)
    chain(rt).automine = False
    Submitter(rt).run_once()
    with pytest.raises(InvalidTransition, match=r"expected transaction .* to be queued"), transaction(rt.sessions) as s:
        store.update_queued_to_cancelled(s, tx_id=second)
    assert job(rt, first).state == "cancelled" and job(rt, first).attempts == []
    assert job(rt, second).nonce == 0  # the cancelled job never took a nonce
