"""Refunds: requested on a delivery (accepted, refused, claimed after silence) or taken when seriously overdue."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    DELIVERABLE,
    REASON,
    RESPONSE_WINDOW,
    REVIEW_PERIOD,
    SERIOUS_DELAY,
    Flow,
    Lateness,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    other_statuses,
)

# IOrderEscrow.RefundReason
SERIOUSLY_OVERDUE, ACCEPTED_BY_FREELANCER, FREELANCER_SILENT = 0, 1, 2


def assert_refunded(flow: Flow, receipt: object, ref: bytes, reason: int) -> None:
    assert flow.status(ref) == Status.REFUNDED
    event = flow.event(receipt, "OrderRefunded")
    assert (event.ref, event.reason, event.amount) == (ref, reason, AMOUNT)


# ==== requestRefund ====


def test_request_refund_gives_the_freelancer_the_response_window(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.DELIVERED)
    at = money_flow.now() + 77
    money_flow.at(at)
    books = money_flow.books()
    receipt = money_flow.escrow.requestRefund(ref, REASON, sender=money_flow.client)

    books.check(receipt)
    order = money_flow.order(ref)
    assert (order.status, order.respondBy, order.reviewBy) == (Status.REFUND_REQUESTED, at + RESPONSE_WINDOW, 0)
    event = money_flow.event(receipt, "RefundRequested")
    assert (event.ref, event.reasonHash, event.respondBy) == (ref, REASON, at + RESPONSE_WINDOW)


@pytest.mark.parametrize("caller", everyone_but("client"))
def test_request_refund_is_refused_to_anyone_but_the_client(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.requestRefund(ref, REASON, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.DELIVERED), ids=lambda s: s.name)
def test_request_refund_is_refused_unless_delivered(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.requestRefund(ref, REASON, sender=flow.client)


# ==== acceptRefund ====


def test_accept_refund_credits_the_whole_amount_to_the_client(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.REFUND_REQUESTED)
    books = money_flow.books()
    receipt = money_flow.escrow.acceptRefund(ref, sender=money_flow.freelancer)

    books.check(receipt, credit={"client": AMOUNT})
    assert_refunded(money_flow, receipt, ref, ACCEPTED_BY_FREELANCER)


def test_accept_refund_is_still_possible_after_the_response_window(flow: Flow) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    flow.at(int(flow.order(ref).respondBy) + 1)
    flow.escrow.acceptRefund(ref, sender=flow.freelancer)
    assert flow.status(ref) == Status.REFUNDED


@pytest.mark.parametrize("caller", everyone_but("freelancer"))
def test_accept_and_refuse_refund_are_refused_to_anyone_but_the_freelancer(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.acceptRefund(ref, sender=sender)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.refuseRefund(ref, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.REFUND_REQUESTED), ids=lambda s: s.name)
def test_accept_refuse_and_claim_refund_are_refused_unless_a_refund_was_requested(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.acceptRefund(ref, sender=flow.freelancer)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.refuseRefund(ref, sender=flow.freelancer)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.claimRefund(ref, sender=flow.client)


# ==== refuseRefund ====


def test_refuse_refund_at_respond_by_returns_to_delivered_and_restarts_the_review_clock(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.REFUND_REQUESTED)
    respond_by = int(money_flow.order(ref).respondBy)
    money_flow.at(respond_by)
    books = money_flow.books()
    receipt = money_flow.escrow.refuseRefund(ref, sender=money_flow.freelancer)

    books.check(receipt)
    order = money_flow.order(ref)
    assert (order.status, order.refundRefusals, order.reviewBy, order.respondBy) == (
        Status.DELIVERED,
        1,
        respond_by + REVIEW_PERIOD,
        0,
    )
    event = money_flow.event(receipt, "RefundRefused")
    assert (event.ref, event.refusals, event.reviewBy) == (ref, 1, respond_by + REVIEW_PERIOD)


def test_refuse_refund_one_second_after_respond_by_is_too_late(flow: Flow) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.at(respond_by + 1)
    with ape.reverts(flow.escrow.TooLate, ref=ref, now_=respond_by + 1, deadline=respond_by):
        flow.escrow.refuseRefund(ref, sender=flow.freelancer)


def test_the_third_refusal_opens_a_dispute_and_the_second_does_not(money_flow: Flow) -> None:
    e, c, f = money_flow.escrow, money_flow.client, money_flow.freelancer
    ref = money_flow.drive_to(Status.REFUND_REQUESTED)
    e.refuseRefund(ref, sender=f)
    e.requestRefund(ref, REASON, sender=c)
    second = e.refuseRefund(ref, sender=f)
    assert money_flow.event(second, "RefundRefused").refusals == 2
    assert money_flow.events(second, "DisputeOpened") == []
    assert (money_flow.status(ref), money_flow.order(ref).refundRefusals) == (Status.DELIVERED, 2)

    e.requestRefund(ref, REASON, sender=c)
    books = money_flow.books()
    third = e.refuseRefund(ref, sender=f)

    books.check(third)
    order = money_flow.order(ref)
    assert (order.status, order.refundRefusals, order.reviewBy) == (Status.DISPUTED, 3, 0)
    refused = money_flow.event(third, "RefundRefused")
    assert (refused.refusals, refused.reviewBy) == (3, 0)
    opened = money_flow.event(third, "DisputeOpened")
    assert (opened.ref, opened.by, opened.reasonHash) == (ref, f.address, b"\x00" * 32)


def test_refusals_count_across_revisions(flow: Flow) -> None:
    e, c, f = flow.escrow, flow.client, flow.freelancer
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    e.refuseRefund(ref, sender=f)
    e.requestRevision(ref, REASON, sender=c)
    e.acknowledgeRevision(ref, sender=f)
    e.deliver(ref, DELIVERABLE, sender=f)
    for _ in range(2):
        e.requestRefund(ref, REASON, sender=c)
        e.refuseRefund(ref, sender=f)
    assert flow.status(ref) == Status.DISPUTED


# ==== claimRefund ====


def test_claim_refund_at_respond_by_is_too_early_and_names_the_next_second(flow: Flow) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.at(respond_by)
    with ape.reverts(flow.escrow.TooEarly, ref=ref, now_=respond_by, availableAt=respond_by + 1):
        flow.escrow.claimRefund(ref, sender=flow.client)


def test_claim_refund_after_the_freelancer_stayed_silent_credits_the_client(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.REFUND_REQUESTED)
    money_flow.at(int(money_flow.order(ref).respondBy) + 1)
    books = money_flow.books()
    receipt = money_flow.escrow.claimRefund(ref, sender=money_flow.client)

    books.check(receipt, credit={"client": AMOUNT})
    assert_refunded(money_flow, receipt, ref, FREELANCER_SILENT)


@pytest.mark.parametrize("caller", everyone_but("client"))
def test_claim_refund_is_refused_to_anyone_but_the_client(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    flow.at(int(flow.order(ref).respondBy) + 1)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.claimRefund(ref, sender=sender)


# ==== refundOverdue ====

WORKING = (Status.IN_PROGRESS, Status.IN_REVISION)


@pytest.mark.parametrize("status", WORKING, ids=lambda s: s.name)
def test_refund_overdue_reverts_until_the_serious_delay_has_passed(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    due = int(flow.order(ref).deliverBy) + SERIOUS_DELAY
    flow.at(due)
    with ape.reverts(flow.escrow.TooEarly, ref=ref, now_=due, availableAt=due + 1):
        flow.escrow.refundOverdue(ref, sender=flow.client)


@pytest.mark.parametrize("status", WORKING, ids=lambda s: s.name)
def test_refund_overdue_one_second_after_the_serious_delay_credits_the_client(money_flow: Flow, status: Status) -> None:
    ref = money_flow.drive_to(status)
    money_flow.at(int(money_flow.order(ref).deliverBy) + SERIOUS_DELAY + 1)
    books = money_flow.books()
    receipt = money_flow.escrow.refundOverdue(ref, sender=money_flow.client)

    books.check(receipt, credit={"client": AMOUNT})
    assert_refunded(money_flow, receipt, ref, SERIOUSLY_OVERDUE)


def test_refund_overdue_after_a_seriously_overdue_delivery_credits_the_client(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.IN_PROGRESS)
    money_flow.deliver_late(ref, SERIOUS_DELAY + 1)
    books = money_flow.books()
    receipt = money_flow.escrow.refundOverdue(ref, sender=money_flow.client)

    books.check(receipt, credit={"client": AMOUNT})
    assert_refunded(money_flow, receipt, ref, SERIOUSLY_OVERDUE)


@pytest.mark.parametrize(
    ("offset", "lateness"), [(0, Lateness.ON_TIME), (SERIOUS_DELAY, Lateness.OVERDUE)], ids=["on-time", "overdue"]
)
def test_refund_overdue_is_refused_when_the_delivery_was_not_seriously_overdue(
    flow: Flow, offset: int, lateness: Lateness
) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    flow.deliver_late(ref, offset)
    with ape.reverts(flow.escrow.NotSeriouslyOverdue, ref=ref, lateness=lateness):
        flow.escrow.refundOverdue(ref, sender=flow.client)


def test_refund_overdue_looks_at_the_latest_delivery_only(flow: Flow) -> None:
    e, c, f = flow.escrow, flow.client, flow.freelancer
    ref = flow.drive_to(Status.IN_PROGRESS)
    flow.deliver_late(ref, SERIOUS_DELAY + 1)
    e.requestRevision(ref, REASON, sender=c)
    e.acknowledgeRevision(ref, sender=f)
    flow.deliver_late(ref, 0)
    with ape.reverts(e.NotSeriouslyOverdue, ref=ref, lateness=Lateness.ON_TIME):
        e.refundOverdue(ref, sender=c)


def test_refund_overdue_works_on_a_seriously_overdue_revision_delivery(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_REVISION)
    flow.deliver_late(ref, SERIOUS_DELAY + 1)
    flow.escrow.refundOverdue(ref, sender=flow.client)
    assert flow.status(ref) == Status.REFUNDED


@pytest.mark.parametrize("status", [*WORKING, Status.DELIVERED], ids=lambda s: s.name)
@pytest.mark.parametrize("caller", everyone_but("client"))
def test_refund_overdue_is_refused_to_anyone_but_the_client(flow: Flow, status: Status, caller: str) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS if status == Status.DELIVERED else status)
    if status == Status.DELIVERED:
        flow.deliver_late(ref, SERIOUS_DELAY + 1)
    else:
        flow.at(int(flow.order(ref).deliverBy) + SERIOUS_DELAY + 1)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.refundOverdue(ref, sender=sender)


@pytest.mark.parametrize("status", other_statuses(*WORKING, Status.DELIVERED), ids=lambda s: s.name)
def test_refund_overdue_is_refused_outside_work_and_delivery(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    flow.at(flow.now() + 30 * 86_400)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.refundOverdue(ref, sender=flow.client)


def test_the_caller_is_checked_before_the_time_and_the_status_before_the_caller(flow: Flow) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=flow.outsider.address):
        flow.escrow.claimRefund(ref, sender=flow.outsider)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=Status.REFUND_REQUESTED):
        flow.escrow.refundOverdue(ref, sender=flow.outsider)
