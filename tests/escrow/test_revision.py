"""Revisions: the client asks for one; the freelancer acknowledges within 24 h, or anyone starts it afterwards."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    DELIVERABLE,
    DELIVERY,
    REASON,
    RESPONSE_WINDOW,
    Flow,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    other_statuses,
)


def test_request_revision_gives_the_freelancer_the_response_window(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.DELIVERED)
    at = money_flow.now() + 50
    money_flow.at(at)
    books = money_flow.books()
    receipt = money_flow.escrow.requestRevision(ref, REASON, sender=money_flow.client)

    books.check(receipt)
    order = money_flow.order(ref)
    assert (order.status, order.revisionsUsed, order.respondBy, order.reviewBy) == (
        Status.REVISION_REQUESTED,
        1,
        at + RESPONSE_WINDOW,
        0,
    )
    event = money_flow.event(receipt, "RevisionRequested")
    assert (event.ref, event.reasonHash, event.revisionsUsed, event.respondBy) == (
        ref,
        REASON,
        1,
        at + RESPONSE_WINDOW,
    )


def revise_once(flow: Flow, ref: bytes) -> None:
    flow.escrow.requestRevision(ref, REASON, sender=flow.client)
    flow.escrow.acknowledgeRevision(ref, sender=flow.freelancer)
    flow.escrow.deliver(ref, DELIVERABLE, sender=flow.freelancer)


@pytest.mark.parametrize("max_revisions", [0, 1, 3])
def test_request_revision_is_capped_at_the_gig_s_included_revisions(flow: Flow, max_revisions: int) -> None:
    ref = flow.drive_to(Status.DELIVERED, maxRevisions=max_revisions)
    for _ in range(max_revisions):
        revise_once(flow, ref)
    assert flow.order(ref).revisionsUsed == max_revisions
    with ape.reverts(flow.escrow.RevisionLimitReached, ref=ref, maxRevisions=max_revisions):
        flow.escrow.requestRevision(ref, REASON, sender=flow.client)
    # The client still has every other answer to the delivery.
    flow.escrow.accept(ref, sender=flow.client)


@pytest.mark.parametrize("caller", everyone_but("client"))
def test_request_revision_is_refused_to_anyone_but_the_client(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.requestRevision(ref, REASON, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.DELIVERED), ids=lambda s: s.name)
def test_request_revision_is_refused_unless_delivered(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.requestRevision(ref, REASON, sender=flow.client)


# ==== the freelancer's answer ====


def test_acknowledge_revision_at_respond_by_starts_the_revision_with_a_fresh_delivery_time(money_flow: Flow) -> None:
    ref = money_flow.drive_to(Status.REVISION_REQUESTED)
    respond_by = int(money_flow.order(ref).respondBy)
    money_flow.at(respond_by)
    books = money_flow.books()
    receipt = money_flow.escrow.acknowledgeRevision(ref, sender=money_flow.freelancer)

    books.check(receipt)
    order = money_flow.order(ref)
    assert (order.status, order.deliverBy, order.respondBy) == (Status.IN_REVISION, respond_by + DELIVERY, 0)
    event = money_flow.event(receipt, "RevisionStarted")
    assert (event.ref, event.acknowledged, event.deliverBy) == (ref, True, respond_by + DELIVERY)


def test_acknowledge_revision_one_second_after_respond_by_is_too_late(flow: Flow) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.at(respond_by + 1)
    with ape.reverts(flow.escrow.TooLate, ref=ref, now_=respond_by + 1, deadline=respond_by):
        flow.escrow.acknowledgeRevision(ref, sender=flow.freelancer)


@pytest.mark.parametrize("caller", everyone_but("freelancer"))
def test_acknowledge_revision_is_refused_to_anyone_but_the_freelancer(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.acknowledgeRevision(ref, sender=sender)


@pytest.mark.parametrize("status", other_statuses(Status.REVISION_REQUESTED), ids=lambda s: s.name)
def test_acknowledge_and_start_revision_are_refused_unless_a_revision_was_requested(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.acknowledgeRevision(ref, sender=flow.freelancer)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.startRevision(ref, sender=flow.keeper)


def test_start_revision_at_respond_by_is_too_early_and_names_the_next_second(flow: Flow) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.at(respond_by)
    with ape.reverts(flow.escrow.TooEarly, ref=ref, now_=respond_by, availableAt=respond_by + 1):
        flow.escrow.startRevision(ref, sender=flow.keeper)


@pytest.mark.parametrize("caller", ["keeper", "freelancer", "arbiter"])
def test_start_revision_after_the_silent_response_window_is_open_to_anyone(money_flow: Flow, caller: str) -> None:
    ref = money_flow.drive_to(Status.REVISION_REQUESTED)
    started = int(money_flow.order(ref).respondBy) + 1
    money_flow.at(started)
    books = money_flow.books()
    receipt = money_flow.escrow.startRevision(ref, sender=money_flow.party(caller))

    books.check(receipt)
    order = money_flow.order(ref)
    assert (order.status, order.deliverBy) == (Status.IN_REVISION, started + DELIVERY)
    event = money_flow.event(receipt, "RevisionStarted")
    assert (event.ref, event.acknowledged, event.deliverBy) == (ref, False, started + DELIVERY)


def test_the_revision_counter_survives_a_started_revision_and_its_delivery(flow: Flow) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED, maxRevisions=1)
    flow.at(int(flow.order(ref).respondBy) + 1)
    flow.escrow.startRevision(ref, sender=flow.keeper)
    flow.escrow.deliver(ref, DELIVERABLE, sender=flow.freelancer)
    with ape.reverts(flow.escrow.RevisionLimitReached, ref=ref, maxRevisions=1):
        flow.escrow.requestRevision(ref, REASON, sender=flow.client)


def test_the_caller_is_checked_before_the_time(flow: Flow) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED)
    flow.at(int(flow.order(ref).respondBy) + 1)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=flow.client.address):
        flow.escrow.acknowledgeRevision(ref, sender=flow.client)
