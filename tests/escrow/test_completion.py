"""Completion: the client accepts a delivery, or anyone finalizes it once the review period passed in silence."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    FEE_BPS,
    REASON,
    REVIEW_PERIOD,
    Flow,
    Status,
    completion,
    everyone_but,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    other_statuses,
)

PAYOUT, FEE = completion(AMOUNT, FEE_BPS)


def test_completion_math_is_the_order_math_rule() -> None:
    assert (PAYOUT, FEE) == (9 * 10**17, 10**17)
    assert completion(10_001, 1_000) == (9_001, 1_000)
    assert completion(9_999, 3) == (9_997, 2)


def test_accept_pays_the_freelancer_the_amount_minus_the_fee_and_the_fee_recipient_the_fee(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.DELIVERED)
    books = money_flow.books()
    receipt = money_flow.escrow.accept(ref, sender=money_flow.client)

    books.check(receipt, credit={"freelancer": PAYOUT, "fee_recipient": FEE})
    assert money_flow.status(ref) == Status.COMPLETED
    event = money_flow.event(receipt, "OrderCompleted")
    assert (event.ref, event.by, event.finalized, event.freelancerAmount, event.fee) == (
        ref,
        money_flow.client.address,
        False,
        PAYOUT,
        FEE,
    )


@pytest.mark.parametrize(("amount", "fee_bps"), [(10_001, 1_000), (9_999, 3), (7, 2_000), (12_345, 0)])
def test_accept_rounds_the_fee_down_and_the_freelancer_takes_the_rest(
    money_flow: Flow, amount: int, fee_bps: int
) -> None:
    ref = money_flow.drive_to(Status.DELIVERED, amount=amount, feeBps=fee_bps)
    books = money_flow.books()
    receipt = money_flow.escrow.accept(ref, sender=money_flow.client)
    payout, fee = completion(amount, fee_bps)
    books.check(receipt, credit={"freelancer": payout, "fee_recipient": fee})
    assert payout + fee == amount


@pytest.mark.parametrize("caller", everyone_but("client"))
def test_accept_is_refused_to_anyone_but_the_client(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.accept(ref, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.DELIVERED), ids=lambda s: s.name)
def test_accept_and_finalize_are_refused_unless_delivered(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.accept(ref, sender=flow.client)
    flow.at(flow.now() + 30 * 86_400)  # even long after any review period
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.finalize(ref, sender=flow.keeper)


def test_accept_is_still_possible_after_the_review_period(flow: Flow) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    flow.at(int(flow.order(ref).reviewBy) + 1)
    flow.escrow.accept(ref, sender=flow.client)
    assert flow.status(ref) == Status.COMPLETED


def test_finalize_at_review_by_is_too_early_and_names_the_next_second(flow: Flow) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    review_by = int(flow.order(ref).reviewBy)
    flow.at(review_by)
    with ape.reverts(flow.escrow.TooEarly, ref=ref, now_=review_by, availableAt=review_by + 1):
        flow.escrow.finalize(ref, sender=flow.keeper)


@pytest.mark.parametrize("caller", ["keeper", "freelancer", "arbiter"])
def test_finalize_one_second_after_review_by_completes_the_order_for_anyone(money_flow: Flow, caller: str) -> None:
    ref = money_flow.drive_to(Status.DELIVERED)
    money_flow.at(int(money_flow.order(ref).reviewBy) + 1)
    books = money_flow.books()
    receipt = money_flow.escrow.finalize(ref, sender=money_flow.party(caller))

    books.check(receipt, credit={"freelancer": PAYOUT, "fee_recipient": FEE})
    assert money_flow.status(ref) == Status.COMPLETED
    event = money_flow.event(receipt, "OrderCompleted")
    assert (event.by, event.finalized, event.freelancerAmount, event.fee) == (
        money_flow.party(caller).address,
        True,
        PAYOUT,
        FEE,
    )


def test_finalize_waits_for_the_restarted_review_clock_after_a_refused_refund(flow: Flow) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    first_review_by = int(flow.order(ref).reviewBy)
    flow.escrow.requestRefund(ref, REASON, sender=flow.client)
    respond_by = int(flow.order(ref).respondBy)
    flow.at(respond_by)
    flow.escrow.refuseRefund(ref, sender=flow.freelancer)
    review_by = int(flow.order(ref).reviewBy)
    assert review_by == respond_by + REVIEW_PERIOD > first_review_by
    flow.at(review_by)
    with ape.reverts(flow.escrow.TooEarly, ref=ref, now_=review_by, availableAt=review_by + 1):
        flow.escrow.finalize(ref, sender=flow.keeper)
    flow.at(review_by + 1)
    flow.escrow.finalize(ref, sender=flow.keeper)
    assert flow.status(ref) == Status.COMPLETED


def test_a_completed_order_is_final(flow: Flow) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=Status.COMPLETED):
        flow.escrow.accept(ref, sender=flow.client)
    assert flow.credit(flow.freelancer) == PAYOUT
