"""Before work starts: the client cancels or submits requirements, the freelancer may decline (cancel)."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    DELIVERY,
    REQUIREMENTS,
    Flow,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    other_statuses,
)


@pytest.mark.parametrize("by", ["client", "freelancer"])
def test_cancel_by_the_client_or_the_declining_freelancer_credits_everything_to_the_client(
    money_flow: Flow, by: str
) -> None:
    ref = money_flow.drive_to(Status.AWAITING_REQUIREMENTS)
    books = money_flow.books()
    receipt = money_flow.escrow.cancel(ref, sender=money_flow.party(by))

    books.check(receipt, credit={"client": AMOUNT})
    assert money_flow.status(ref) == Status.CANCELLED
    event = money_flow.event(receipt, "OrderCancelled")
    assert (event.ref, event.by, event.refunded) == (ref, money_flow.party(by).address, AMOUNT)


def test_cancel_is_possible_any_time_while_awaiting_requirements(flow: Flow) -> None:
    terms = flow.fund()
    flow.at(flow.now() + 365 * 86_400)
    flow.escrow.cancel(terms.orderRef, sender=flow.client)
    assert flow.status(terms.orderRef) == Status.CANCELLED


@pytest.mark.parametrize("caller", everyone_but("client", "freelancer"))
def test_cancel_is_refused_to_anyone_but_the_parties(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.AWAITING_REQUIREMENTS)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.cancel(ref, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.AWAITING_REQUIREMENTS), ids=lambda s: s.name)
def test_cancel_is_refused_once_requirements_are_in_or_the_order_ended(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.cancel(ref, sender=flow.client)


def test_submit_requirements_starts_work_due_after_the_delivery_duration(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.AWAITING_REQUIREMENTS)
    start = money_flow.now() + 1_000
    money_flow.at(start)
    books = money_flow.books()
    receipt = money_flow.escrow.submitRequirements(ref, REQUIREMENTS, sender=money_flow.client)

    books.check(receipt)
    order = money_flow.order(ref)
    assert order.status == Status.IN_PROGRESS
    assert order.deliverBy == start + DELIVERY
    event = money_flow.event(receipt, "RequirementsSubmitted")
    assert (event.ref, event.requirementsHash, event.deliverBy) == (ref, REQUIREMENTS, start + DELIVERY)


def test_submit_requirements_uses_the_order_s_own_delivery_duration(flow: Flow) -> None:
    ref = flow.drive_to(Status.AWAITING_REQUIREMENTS, deliveryDuration=1)
    start = flow.now() + 10
    flow.at(start)
    flow.escrow.submitRequirements(ref, REQUIREMENTS, sender=flow.client)
    assert flow.order(ref).deliverBy == start + 1


@pytest.mark.parametrize("caller", everyone_but("client"))
def test_submit_requirements_is_refused_to_anyone_but_the_client(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.AWAITING_REQUIREMENTS)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.submitRequirements(ref, REQUIREMENTS, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.AWAITING_REQUIREMENTS), ids=lambda s: s.name)
def test_submit_requirements_is_refused_outside_awaiting_requirements(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.submitRequirements(ref, REQUIREMENTS, sender=flow.client)


def test_wrong_status_is_reported_before_a_wrong_caller(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=Status.IN_PROGRESS):
        flow.escrow.cancel(ref, sender=flow.outsider)
