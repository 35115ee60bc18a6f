"""Disputes: either party opens one while the order is live; the arbiter splits it, or both parties settle."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    FEE_BPS,
    REASON,
    Flow,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    other_statuses,
    split,
)

DISPUTABLE = (
    Status.IN_PROGRESS,
    Status.DELIVERED,
    Status.REVISION_REQUESTED,
    Status.IN_REVISION,
    Status.REFUND_REQUESTED,
)


def test_split_math_is_the_order_math_rule() -> None:
    # share = amount * bps / 1e4 (down); fee = share * feeBps / 1e4 (down); the client takes amount - share.
    assert split(10**18, 5_000, 1_000) == (5 * 10**17, 45 * 10**16, 5 * 10**16)
    assert split(10_001, 3_333, 1_000) == (6_668, 3_000, 333)
    assert split(7, 5_000, 2_000) == (4, 3, 0)
    assert split(999, 10_000, 1_000) == (0, 900, 99)
    assert split(999, 0, 1_000) == (999, 0, 0)


# ==== openDispute ====


@pytest.mark.parametrize("status", DISPUTABLE, ids=lambda s: s.name)
@pytest.mark.parametrize("by", ["client", "freelancer"])
def test_open_dispute_is_possible_from_every_live_status_by_either_party(flow: Flow, status: Status, by: str) -> None:
    ref = flow.drive_to(status)
    books = flow.books()
    receipt = flow.escrow.openDispute(ref, REASON, sender=flow.party(by))

    books.check(receipt)
    assert flow.status(ref) == Status.DISPUTED
    event = flow.event(receipt, "DisputeOpened")
    assert (event.ref, event.by, event.reasonHash) == (ref, flow.party(by).address, REASON)


@pytest.mark.parametrize("status", other_statuses(*DISPUTABLE), ids=lambda s: s.name)
def test_open_dispute_is_refused_before_work_started_and_once_the_order_is_disputed_or_final(
    flow: Flow, status: Status
) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.openDispute(ref, REASON, sender=flow.client)


@pytest.mark.parametrize("caller", everyone_but("client", "freelancer"))
def test_open_dispute_is_refused_to_anyone_but_the_parties(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.openDispute(ref, REASON, sender=sender)


# ==== resolveDispute ====

SPLITS = [
    (AMOUNT, 0),
    (AMOUNT, 10_000),
    (AMOUNT, 5_000),
    (10**18 + 7, 3_333),
    (10_001, 1),
    (999_999, 9_999),
    (7, 5_000),
    (1, 10_000),
]


@pytest.mark.parametrize(("amount", "bps"), SPLITS, ids=lambda v: str(v))
def test_resolve_dispute_splits_with_the_fee_on_the_freelancer_share_only(
    money_flow: Flow, amount: int, bps: int
) -> None:
    ref = money_flow.drive_to(Status.DISPUTED, amount=amount)
    books = money_flow.books()
    receipt = money_flow.escrow.resolveDispute(ref, bps, sender=money_flow.arbiter)

    client_amount, freelancer_amount, fee = split(amount, bps, FEE_BPS)
    assert client_amount + freelancer_amount + fee == amount
    books.check(receipt, credit={"client": client_amount, "freelancer": freelancer_amount, "fee_recipient": fee})
    assert money_flow.status(ref) == Status.RESOLVED
    event = money_flow.event(receipt, "DisputeResolved")
    assert (event.ref, event.settled, event.freelancerBps) == (ref, False, bps)
    assert (event.clientAmount, event.freelancerAmount, event.fee) == (client_amount, freelancer_amount, fee)


def test_resolve_dispute_rejects_a_split_above_10000(flow: Flow) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    with ape.reverts(flow.escrow.InvalidSplit, freelancerBps=10_001):
        flow.escrow.resolveDispute(ref, 10_001, sender=flow.arbiter)


@pytest.mark.parametrize("caller", everyone_but("arbiter"))
def test_resolve_dispute_is_refused_to_anyone_but_the_arbiter(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.resolveDispute(ref, 5_000, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.DISPUTED), ids=lambda s: s.name)
def test_resolve_and_settle_are_refused_unless_disputed(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.resolveDispute(ref, 5_000, sender=flow.arbiter)
    client_sig = flow.market.settlement(ref, 5_000, flow.client)
    freelancer_sig = flow.market.settlement(ref, 5_000, flow.freelancer)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=flow.keeper)


def test_a_dispute_opened_by_the_third_refusal_is_resolved_like_any_other(flow: Flow) -> None:
    e = flow.escrow
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    for _ in range(2):
        e.refuseRefund(ref, sender=flow.freelancer)
        e.requestRefund(ref, REASON, sender=flow.client)
    e.refuseRefund(ref, sender=flow.freelancer)
    e.resolveDispute(ref, 2_500, sender=flow.arbiter)
    client_amount, freelancer_amount, fee = split(AMOUNT, 2_500, FEE_BPS)
    assert flow.credit(flow.client) == client_amount
    assert flow.credit(flow.freelancer) == freelancer_amount
    assert flow.credit(flow.fee_recipient) == fee


# ==== settle ====


@pytest.mark.parametrize(("bps", "submitter"), [(0, "keeper"), (6_001, "client"), (10_000, "freelancer")])
def test_settle_with_both_parties_signatures_resolves_for_any_submitter(
    money_flow: Flow, bps: int, submitter: str
) -> None:
    ref = money_flow.drive_to(Status.DISPUTED, amount=10**18 + 3)
    client_sig = money_flow.market.settlement(ref, bps, money_flow.client)
    freelancer_sig = money_flow.market.settlement(ref, bps, money_flow.freelancer)
    books = money_flow.books()
    receipt = money_flow.escrow.settle(ref, bps, client_sig, freelancer_sig, sender=money_flow.party(submitter))

    client_amount, freelancer_amount, fee = split(10**18 + 3, bps, FEE_BPS)
    books.check(receipt, credit={"client": client_amount, "freelancer": freelancer_amount, "fee_recipient": fee})
    assert money_flow.status(ref) == Status.RESOLVED
    event = money_flow.event(receipt, "DisputeResolved")
    assert (event.settled, event.freelancerBps, event.clientAmount, event.freelancerAmount, event.fee) == (
        True,
        bps,
        client_amount,
        freelancer_amount,
        fee,
    )


@pytest.mark.parametrize(
    ("client_signer", "freelancer_signer", "rejected"),
    [
        ("outsider", "freelancer", "client"),
        ("client", "outsider", "freelancer"),
        ("freelancer", "client", "client"),
        ("arbiter", "arbiter", "client"),
        ("client", "client", "freelancer"),
    ],
)
def test_settle_rejects_a_signature_from_the_wrong_signer(
    flow: Flow, client_signer: str, freelancer_signer: str, rejected: str
) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    client_sig = flow.market.settlement(ref, 5_000, flow.party(client_signer))
    freelancer_sig = flow.market.settlement(ref, 5_000, flow.party(freelancer_signer))
    with ape.reverts(flow.escrow.InvalidSignature, party=flow.party(rejected).address):
        flow.escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=flow.keeper)


def test_settle_rejects_signatures_over_a_different_split(flow: Flow) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    client_sig = flow.market.settlement(ref, 5_000, flow.client)
    freelancer_sig = flow.market.settlement(ref, 5_000, flow.freelancer)
    with ape.reverts(flow.escrow.InvalidSignature, party=flow.client.address):
        flow.escrow.settle(ref, 5_001, client_sig, freelancer_sig, sender=flow.keeper)


def test_settle_rejects_signatures_made_for_another_order(flow: Flow) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    other = flow.drive_to(Status.DISPUTED)
    client_sig = flow.market.settlement(other, 5_000, flow.client)
    freelancer_sig = flow.market.settlement(other, 5_000, flow.freelancer)
    with ape.reverts(flow.escrow.InvalidSignature, party=flow.client.address):
        flow.escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=flow.keeper)


def test_settle_rejects_a_signed_split_above_10000(flow: Flow) -> None:
    ref = flow.drive_to(Status.DISPUTED)
    client_sig = flow.market.settlement(ref, 10_001, flow.client)
    freelancer_sig = flow.market.settlement(ref, 10_001, flow.freelancer)
    with ape.reverts(flow.escrow.InvalidSplit, freelancerBps=10_001):
        flow.escrow.settle(ref, 10_001, client_sig, freelancer_sig, sender=flow.keeper)
