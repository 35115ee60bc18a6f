"""The timeout keeper: each due ``startRevision`` / ``finalize`` lands through the job pipeline in one cycle after
its deadline has passed, once; nothing is submitted early, and nothing that would revert."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from offchain.eip712 import Status
from offchain.relayer.confirmer import Confirmer
from offchain.relayer.db import transaction
from offchain.relayer.index.keeper import Keeper, idempotency_key
from offchain.relayer.index.models import IndexOrder
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import job_notices
from offchain.relayer.models import Transaction
from offchain.relayer.submitter import Submitter
from tests.indexer.kit import catch_up, make_runtime
from tests.relayer.harness import DAY, Deployment

H = b"h".ljust(32, b"\0")


def set_time(d: Deployment, timestamp: int) -> None:
    """Mine a block whose timestamp is exactly ``timestamp``."""
    d.chain.rpc("evm_setNextBlockTimestamp", hex(timestamp))
    d.chain.mine()


def jobs(rt: object) -> list[Transaction]:
    with rt.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Transaction).order_by(Transaction.created_at)))


def deadline_of(rt: object, ref: bytes) -> int:
    with rt.sessions() as session:  # type: ignore[attr-defined]
        order = session.get(IndexOrder, "0x" + ref.hex())
        assert order is not None
        return order.deadline


def test_keeper_submits_each_due_timeout_once_and_never_early(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    d = deployment
    c, f = d.client, d.freelancer
    rt = make_runtime(d, new_db("sqlite"))
    watcher, keeper, submitter, confirmer = Watcher(rt), Keeper(rt), Submitter(rt), Confirmer(rt)
    revision, review = d.terms(), d.terms()
    d.fund_orders([revision, review])
    for t in (revision, review):
        d.send(c, d.escrow.functions.submitRequirements(t.orderRef, H))
        d.send(f, d.escrow.functions.deliver(t.orderRef, H))
    d.send(c, d.escrow.functions.requestRevision(revision.orderRef, H))
    catch_up(watcher)
    respond_by, review_by = deadline_of(rt, revision.orderRef), deadline_of(rt, review.orderRef)
    assert respond_by < review_by

    for deadline, ref, transition, landed in (
        (respond_by, revision.orderRef, "startRevision", Status.IN_REVISION),
        (review_by, review.orderRef, "finalize", Status.COMPLETED),
    ):
        set_time(d, deadline)  # the deadline itself: still the party's time ("strictly after")
        assert keeper.run_once() == 0
        assert not [j for j in jobs(rt) if j.kind == transition]
        set_time(d, deadline + 1)
        assert keeper.run_once() == 1, "due: enqueued in the first cycle"
        job = next(j for j in jobs(rt) if j.kind == transition)
        assert job.idempotency_key == idempotency_key(transition, "0x" + ref.hex(), deadline)
        submitter.run_once()  # anvil mines it at once
        confirmer.run_once()
        assert d.status(ref) == landed
        assert keeper.run_once() == 0, "once: not again before the index has seen it"
        catch_up(watcher)
        assert keeper.run_once() == 0
    assert len(jobs(rt)) == 2
    with transaction(rt.sessions) as session:  # the backend hears of each job's state, with the order's ref
        notices = job_notices(session)
    assert {(n.type, n.ref) for n in notices} == {
        ("job.confirmed", "0x" + revision.orderRef.hex()),
        ("job.confirmed", "0x" + review.orderRef.hex()),
    }


def test_keeper_skips_a_timeout_that_would_revert(deployment: Deployment, new_db: Callable[[str], str]) -> None:
    d = deployment
    rt = make_runtime(d, new_db("sqlite"))
    watcher, keeper = Watcher(rt), Keeper(rt)
    t = d.terms()
    d.fund_orders([t])
    d.send(d.client, d.escrow.functions.submitRequirements(t.orderRef, H))
    d.send(d.freelancer, d.escrow.functions.deliver(t.orderRef, H))
    catch_up(watcher)
    d.send(d.client, d.escrow.functions.accept(t.orderRef))  # the index has not seen this yet
    d.chain.increase_time(3 * DAY + 10)
    before = len(jobs(rt))
    assert keeper.run_once() == 0
    assert len(jobs(rt)) == before
