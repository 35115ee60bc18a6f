"""Delivery: the freelancer delivers (on time, overdue or seriously overdue); the parties may agree a new date."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    DELIVERABLE,
    DELIVERY,
    REASON,
    REVIEW_PERIOD,
    SERIOUS_DELAY,
    Flow,
    Lateness,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    label,
    money_flow_fixture,  # noqa: F401
    other_statuses,
)

WORKING = (Status.IN_PROGRESS, Status.IN_REVISION)


@pytest.mark.parametrize("status", WORKING, ids=lambda s: s.name)
def test_deliver_records_the_delivery_and_starts_the_review_clock(money_flow: Flow, status: Status) -> None:
    ref = money_flow.drive_to(status)
    before = money_flow.order(ref)
    at = money_flow.now() + 100
    money_flow.at(at)
    books = money_flow.books()
    receipt = money_flow.escrow.deliver(ref, DELIVERABLE, sender=money_flow.freelancer)

    books.check(receipt)
    order = money_flow.order(ref)
    assert order.status == Status.DELIVERED
    assert order.reviewBy == at + REVIEW_PERIOD
    assert order.deliveryCount == before.deliveryCount + 1
    assert order.lastLateness == Lateness.ON_TIME
    assert order.deliverBy == before.deliverBy
    event = money_flow.event(receipt, "Delivered")
    assert (event.ref, event.index, event.deliverableHash, event.lateness, event.reviewBy) == (
        ref,
        before.deliveryCount,
        DELIVERABLE,
        Lateness.ON_TIME,
        at + REVIEW_PERIOD,
    )


LATENESS_BOUNDARIES = [
    (-1, Lateness.ON_TIME),
    (0, Lateness.ON_TIME),
    (1, Lateness.OVERDUE),
    (SERIOUS_DELAY, Lateness.OVERDUE),
    (SERIOUS_DELAY + 1, Lateness.SERIOUSLY_OVERDUE),
]


@pytest.mark.parametrize("status", WORKING, ids=lambda s: s.name)
@pytest.mark.parametrize(("offset", "lateness"), LATENESS_BOUNDARIES, ids=lambda v: str(v))
def test_deliver_classifies_lateness_at_the_exact_boundaries(
    flow: Flow, status: Status, offset: int, lateness: Lateness
) -> None:
    ref = flow.drive_to(status)
    deliver_by = int(flow.order(ref).deliverBy)
    receipt = flow.deliver_late(ref, offset)

    assert flow.order(ref).lastLateness == lateness
    event = flow.event(receipt, "Delivered")
    assert event.lateness == lateness
    assert event.reviewBy == deliver_by + offset + REVIEW_PERIOD


def test_delivery_history_is_the_log_of_delivered_events(flow: Flow) -> None:
    e, c, f = flow.escrow, flow.client, flow.freelancer
    ref = flow.drive_to(Status.IN_PROGRESS)
    start = flow.chain.blocks.head.number
    other = flow.drive_to(Status.IN_PROGRESS)  # another order's deliveries stay out of this one's history
    e.deliver(other, label("other"), sender=f)

    first = flow.deliver_late(ref, 1)
    e.requestRevision(ref, REASON, sender=c)
    e.acknowledgeRevision(ref, sender=f)
    e.deliver(ref, label("second"), sender=f)
    e.requestRevision(ref, REASON, sender=c)
    flow.at(int(flow.order(ref).respondBy) + 1)
    e.startRevision(ref, sender=flow.keeper)
    third = flow.deliver_late(ref, SERIOUS_DELAY + 1)

    history = [
        (log.index, log.deliverableHash, log.lateness, log.block_number)
        for log in e.Delivered.range(start, flow.chain.blocks.head.number + 1, search_topics={"ref": ref})
    ]
    assert [(i, h, lateness) for i, h, lateness, _ in history] == [
        (0, DELIVERABLE, Lateness.OVERDUE),
        (1, label("second"), Lateness.ON_TIME),
        (2, DELIVERABLE, Lateness.SERIOUSLY_OVERDUE),
    ]
    assert history[0][3] == first.block_number
    assert history[2][3] == third.block_number
    order = flow.order(ref)
    assert (order.deliveryCount, order.lastLateness) == (3, Lateness.SERIOUSLY_OVERDUE)


@pytest.mark.parametrize("caller", everyone_but("freelancer"))
def test_deliver_is_refused_to_anyone_but_the_freelancer(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.deliver(ref, DELIVERABLE, sender=sender)


@pytest.mark.parametrize("status", other_statuses(*WORKING), ids=lambda s: s.name)
def test_deliver_is_refused_outside_work(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.deliver(ref, DELIVERABLE, sender=flow.freelancer)


# ==== agreed delivery dates ====


@pytest.mark.parametrize("status", WORKING, ids=lambda s: s.name)
@pytest.mark.parametrize(("proposer", "agreer"), [("client", "freelancer"), ("freelancer", "client")])
def test_a_date_proposed_by_one_party_and_agreed_by_the_other_becomes_deliver_by(
    flow: Flow, status: Status, proposer: str, agreer: str
) -> None:
    ref = flow.drive_to(status)
    new_date = int(flow.order(ref).deliverBy) + 3 * 86_400
    proposed = flow.escrow.proposeDeadline(ref, new_date, sender=flow.party(proposer))
    event = flow.event(proposed, "DeadlineProposed")
    assert (event.ref, event.proposer, event.newDeliverBy) == (ref, flow.party(proposer).address, new_date)
    pending = flow.order(ref)
    assert (pending.deadlineProposer, pending.proposedDeliverBy) == (flow.party(proposer).address, new_date)

    agreed = flow.escrow.agreeDeadline(ref, new_date, sender=flow.party(agreer))

    assert flow.event(agreed, "DeadlineAgreed").deliverBy == new_date
    order = flow.order(ref)
    assert (order.status, order.deliverBy) == (status, new_date)
    assert (order.deadlineProposer, order.proposedDeliverBy) == ("0x" + "0" * 40, 0)


def test_an_agreed_earlier_date_makes_a_later_delivery_overdue(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    new_date = flow.now() + 3_600
    flow.escrow.proposeDeadline(ref, new_date, sender=flow.client)
    flow.escrow.agreeDeadline(ref, new_date, sender=flow.freelancer)
    flow.at(new_date + 1)
    flow.escrow.deliver(ref, DELIVERABLE, sender=flow.freelancer)
    assert flow.order(ref).lastLateness == Lateness.OVERDUE


def test_agree_deadline_rejects_a_date_other_than_the_one_proposed(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    proposed = flow.now() + DELIVERY * 2
    flow.escrow.proposeDeadline(ref, proposed, sender=flow.freelancer)
    with ape.reverts(flow.escrow.DeadlineMismatch, ref=ref, proposed=proposed, newDeliverBy=proposed + 1):
        flow.escrow.agreeDeadline(ref, proposed + 1, sender=flow.client)


def test_agree_deadline_without_a_proposal_is_a_mismatch_with_nothing(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + DELIVERY * 2
    with ape.reverts(flow.escrow.DeadlineMismatch, ref=ref, proposed=0, newDeliverBy=date):
        flow.escrow.agreeDeadline(ref, date, sender=flow.client)


@pytest.mark.parametrize("party", ["client", "freelancer"])
def test_a_party_cannot_agree_to_its_own_proposal(flow: Flow, party: str) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + DELIVERY * 2
    flow.escrow.proposeDeadline(ref, date, sender=flow.party(party))
    with ape.reverts(flow.escrow.DeadlineMismatch, ref=ref, proposed=0, newDeliverBy=date):
        flow.escrow.agreeDeadline(ref, date, sender=flow.party(party))


def test_a_counter_proposal_replaces_the_pending_one(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    first, second = flow.now() + DELIVERY * 2, flow.now() + DELIVERY * 3
    flow.escrow.proposeDeadline(ref, first, sender=flow.client)
    flow.escrow.proposeDeadline(ref, second, sender=flow.freelancer)
    with ape.reverts(flow.escrow.DeadlineMismatch, ref=ref, proposed=second, newDeliverBy=first):
        flow.escrow.agreeDeadline(ref, first, sender=flow.client)
    flow.escrow.agreeDeadline(ref, second, sender=flow.client)
    assert flow.order(ref).deliverBy == second


def test_a_proposal_made_before_a_delivery_cannot_be_agreed_in_the_revision(flow: Flow) -> None:
    e, c, f = flow.escrow, flow.client, flow.freelancer
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + 30 * 86_400
    e.proposeDeadline(ref, date, sender=c)
    e.deliver(ref, DELIVERABLE, sender=f)
    e.requestRevision(ref, REASON, sender=c)
    e.acknowledgeRevision(ref, sender=f)
    order = flow.order(ref)
    assert (order.deadlineProposer, order.proposedDeliverBy) == ("0x" + "0" * 40, 0)
    with ape.reverts(e.DeadlineMismatch, ref=ref, proposed=0, newDeliverBy=date):
        e.agreeDeadline(ref, date, sender=f)


@pytest.mark.parametrize("offset", [0, -1])
def test_propose_deadline_rejects_a_date_not_in_the_future(flow: Flow, offset: int) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    now = flow.now() + 10
    flow.at(now)
    with ape.reverts(flow.escrow.DeadlineNotInFuture, ref=ref, now_=now, newDeliverBy=now + offset):
        flow.escrow.proposeDeadline(ref, now + offset, sender=flow.client)


def test_propose_deadline_accepts_the_next_second(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    now = flow.now() + 10
    flow.at(now)
    flow.escrow.proposeDeadline(ref, now + 1, sender=flow.client)
    assert flow.order(ref).proposedDeliverBy == now + 1


def test_agree_deadline_rejects_a_proposed_date_that_has_arrived(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + 100
    flow.escrow.proposeDeadline(ref, date, sender=flow.client)
    flow.at(date)
    with ape.reverts(flow.escrow.DeadlineNotInFuture, ref=ref, now_=date, newDeliverBy=date):
        flow.escrow.agreeDeadline(ref, date, sender=flow.freelancer)


def test_agree_deadline_accepts_a_proposed_date_one_second_ahead(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + 100
    flow.escrow.proposeDeadline(ref, date, sender=flow.client)
    flow.at(date - 1)
    flow.escrow.agreeDeadline(ref, date, sender=flow.freelancer)
    assert flow.order(ref).deliverBy == date


@pytest.mark.parametrize("caller", everyone_but("client", "freelancer"))
def test_propose_and_agree_deadline_are_refused_to_anyone_but_the_parties(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + DELIVERY * 2
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.proposeDeadline(ref, date, sender=sender)
    flow.escrow.proposeDeadline(ref, date, sender=flow.client)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.agreeDeadline(ref, date, sender=sender)


@pytest.mark.parametrize("status", other_statuses(*WORKING), ids=lambda s: s.name)
def test_propose_and_agree_deadline_are_refused_outside_work(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    date = flow.now() + 30 * 86_400
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.proposeDeadline(ref, date, sender=flow.client)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.agreeDeadline(ref, date, sender=flow.freelancer)
