"""Views: ``getOrder`` in every status, and the ``availableActions`` bitmask of every kind of account in every status.

The expected masks are written from the SPEC's transition table (who may call what, when), not from the contract.
"""

from __future__ import annotations

from typing import Any

import pytest

from offchain.eip712 import Action, actions_in
from tests.escrow.helpers import (
    AMOUNT,
    DELIVERY,
    FEE_BPS,
    NATIVE,
    REASON,
    RESPONSE_WINDOW,
    REVIEW_PERIOD,
    SERIOUS_DELAY,
    Flow,
    Lateness,
    Status,
    flow_fixture,  # noqa: F401
    label,
)

A = Action
ROLES = ("client", "freelancer", "arbiter", "outsider")
WORK_CLIENT = {A.PROPOSE_DEADLINE, A.OPEN_DISPUTE}
WORK_FREELANCER = {A.DELIVER, A.PROPOSE_DEADLINE, A.OPEN_DISPUTE}
NOTHING: dict[str, set[Action]] = {}

# What each account may call right after the order reached the status (every deadline still ahead).
BEFORE_DEADLINES: dict[Status, dict[str, set[Action]]] = {
    Status.NONE: NOTHING,
    Status.AWAITING_REQUIREMENTS: {"client": {A.CANCEL, A.SUBMIT_REQUIREMENTS}, "freelancer": {A.CANCEL}},
    Status.IN_PROGRESS: {"client": WORK_CLIENT, "freelancer": WORK_FREELANCER},
    Status.DELIVERED: {
        "client": {A.ACCEPT, A.REQUEST_REVISION, A.REQUEST_REFUND, A.OPEN_DISPUTE},
        "freelancer": {A.OPEN_DISPUTE},
    },
    Status.REVISION_REQUESTED: {"client": {A.OPEN_DISPUTE}, "freelancer": {A.ACKNOWLEDGE_REVISION, A.OPEN_DISPUTE}},
    Status.IN_REVISION: {"client": WORK_CLIENT, "freelancer": WORK_FREELANCER},
    Status.REFUND_REQUESTED: {
        "client": {A.OPEN_DISPUTE},
        "freelancer": {A.ACCEPT_REFUND, A.REFUSE_REFUND, A.OPEN_DISPUTE},
    },
    Status.DISPUTED: {"client": {A.SETTLE}, "freelancer": {A.SETTLE}, "arbiter": {A.RESOLVE_DISPUTE}},
    Status.COMPLETED: {"client": {A.REVIEW}, "freelancer": {A.REVIEW}},
    Status.CANCELLED: NOTHING,
    Status.REFUNDED: NOTHING,
    Status.RESOLVED: {"client": {A.REVIEW}, "freelancer": {A.REVIEW}},
}

# What changes once every deadline of the status passed (timeouts open to anyone, answers closed).
AFTER_DEADLINES: dict[Status, dict[str, set[Action]]] = {
    **BEFORE_DEADLINES,
    Status.IN_PROGRESS: {"client": WORK_CLIENT | {A.REFUND_OVERDUE}, "freelancer": WORK_FREELANCER},
    Status.IN_REVISION: {"client": WORK_CLIENT | {A.REFUND_OVERDUE}, "freelancer": WORK_FREELANCER},
    Status.DELIVERED: {
        **{role: {A.FINALIZE} for role in ROLES},
        "client": {A.ACCEPT, A.REQUEST_REVISION, A.REQUEST_REFUND, A.OPEN_DISPUTE, A.FINALIZE},
        "freelancer": {A.OPEN_DISPUTE, A.FINALIZE},
    },
    Status.REVISION_REQUESTED: {
        **{role: {A.START_REVISION} for role in ROLES},
        "client": {A.OPEN_DISPUTE, A.START_REVISION},
        "freelancer": {A.OPEN_DISPUTE, A.START_REVISION},
    },
    Status.REFUND_REQUESTED: {
        "client": {A.OPEN_DISPUTE, A.CLAIM_REFUND},
        "freelancer": {A.ACCEPT_REFUND, A.OPEN_DISPUTE},
    },
}


def actions(flow: Flow, ref: bytes, role: str) -> set[Action]:
    return actions_in(int(flow.escrow.availableActions(ref, flow.party(role))))


def expected(table: dict[Status, dict[str, set[Action]]], status: Status, role: str) -> set[Action]:
    return set(table[status].get(role, set()))


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.name)
def test_available_actions_of_every_account_right_after_reaching_each_status(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    assert {role: actions(flow, ref, role) for role in ROLES} == {
        role: expected(BEFORE_DEADLINES, status, role) for role in ROLES
    }


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.name)
def test_available_actions_of_every_account_once_every_deadline_passed(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    flow.mine_at(flow.now() + DELIVERY + SERIOUS_DELAY + REVIEW_PERIOD + RESPONSE_WINDOW + 1)
    assert {role: actions(flow, ref, role) for role in ROLES} == {
        role: expected(AFTER_DEADLINES, status, role) for role in ROLES
    }


def test_finalize_appears_one_second_after_review_by(flow: Flow) -> None:
    ref = flow.drive_to(Status.DELIVERED)
    review_by = int(flow.order(ref).reviewBy)
    flow.mine_at(review_by)
    assert A.FINALIZE not in actions(flow, ref, "outsider")
    flow.mine_at(review_by + 1)
    assert A.FINALIZE in actions(flow, ref, "outsider")


def test_acknowledge_gives_way_to_start_revision_one_second_after_respond_by(flow: Flow) -> None:
    ref = flow.drive_to(Status.REVISION_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.mine_at(respond_by)
    assert actions(flow, ref, "freelancer") == {A.ACKNOWLEDGE_REVISION, A.OPEN_DISPUTE}
    assert actions(flow, ref, "keeper") == set()
    flow.mine_at(respond_by + 1)
    assert actions(flow, ref, "freelancer") == {A.START_REVISION, A.OPEN_DISPUTE}
    assert actions(flow, ref, "keeper") == {A.START_REVISION}


def test_refuse_gives_way_to_claim_refund_one_second_after_respond_by(flow: Flow) -> None:
    ref = flow.drive_to(Status.REFUND_REQUESTED)
    respond_by = int(flow.order(ref).respondBy)
    flow.mine_at(respond_by)
    assert A.REFUSE_REFUND in actions(flow, ref, "freelancer")
    assert A.CLAIM_REFUND not in actions(flow, ref, "client")
    flow.mine_at(respond_by + 1)
    assert A.REFUSE_REFUND not in actions(flow, ref, "freelancer")
    assert A.CLAIM_REFUND in actions(flow, ref, "client")


@pytest.mark.parametrize("status", [Status.IN_PROGRESS, Status.IN_REVISION], ids=lambda s: s.name)
def test_refund_overdue_appears_one_second_after_the_serious_delay(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    due = int(flow.order(ref).deliverBy) + SERIOUS_DELAY
    flow.mine_at(due)
    assert A.REFUND_OVERDUE not in actions(flow, ref, "client")
    flow.mine_at(due + 1)
    assert A.REFUND_OVERDUE in actions(flow, ref, "client")
    assert A.REFUND_OVERDUE not in actions(flow, ref, "freelancer")


def test_refund_overdue_is_offered_on_a_seriously_overdue_delivery(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    flow.deliver_late(ref, SERIOUS_DELAY + 1)
    assert actions(flow, ref, "client") == {
        A.ACCEPT,
        A.REQUEST_REVISION,
        A.REQUEST_REFUND,
        A.OPEN_DISPUTE,
        A.REFUND_OVERDUE,
    }


def test_request_revision_disappears_once_the_revisions_are_used(flow: Flow) -> None:
    ref = flow.drive_to(Status.DELIVERED, maxRevisions=0)
    assert actions(flow, ref, "client") == {A.ACCEPT, A.REQUEST_REFUND, A.OPEN_DISPUTE}


def test_agree_deadline_is_offered_to_the_other_party_only_while_the_date_is_ahead(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + 1_000
    flow.escrow.proposeDeadline(ref, date, sender=flow.client)
    assert actions(flow, ref, "freelancer") == WORK_FREELANCER | {A.AGREE_DEADLINE}
    assert actions(flow, ref, "client") == WORK_CLIENT
    flow.mine_at(date - 1)
    assert A.AGREE_DEADLINE in actions(flow, ref, "freelancer")
    flow.mine_at(date)
    assert A.AGREE_DEADLINE not in actions(flow, ref, "freelancer")


def test_review_and_reply_bits_follow_the_reviews(flow: Flow) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    flow.escrow.review(ref, 3, label("meh"), sender=flow.client)
    assert actions(flow, ref, "client") == set()
    assert actions(flow, ref, "freelancer") == {A.REVIEW, A.REPLY_TO_REVIEW}
    flow.escrow.replyToReview(ref, label("sorry"), sender=flow.freelancer)
    flow.escrow.review(ref, 5, label("great"), sender=flow.freelancer)
    assert actions(flow, ref, "freelancer") == set()
    assert actions(flow, ref, "client") == set()


# ==== getOrder ====

ZERO_ADDRESS = "0x" + "0" * 40


def order_fields(order: Any) -> dict[str, int]:
    return {
        "status": int(order.status),
        "deliverBy": int(order.deliverBy),
        "reviewBy": int(order.reviewBy),
        "respondBy": int(order.respondBy),
        "revisionsUsed": int(order.revisionsUsed),
        "refundRefusals": int(order.refundRefusals),
        "deliveryCount": int(order.deliveryCount),
        "lastLateness": int(order.lastLateness),
    }


# Per status: the fields set by the last transaction of drive_to (mined at `t`), `deliverBy` when carried over
# from earlier (`None`: checked to be non-zero), and the counters.
def fields_after(status: Status, t: int) -> dict[str, int | None]:
    zero = {"deliverBy": 0, "reviewBy": 0, "respondBy": 0, "revisionsUsed": 0, "refundRefusals": 0}
    delivered = {"deliveryCount": 1, "lastLateness": Lateness.ON_TIME}
    nothing = {"deliveryCount": 0, "lastLateness": Lateness.NONE}
    table: dict[Status, dict[str, int | None]] = {
        Status.NONE: {**zero, **nothing},
        Status.AWAITING_REQUIREMENTS: {**zero, **nothing},
        Status.CANCELLED: {**zero, **nothing},
        Status.IN_PROGRESS: {**zero, **nothing, "deliverBy": t + DELIVERY},
        Status.DISPUTED: {**zero, **nothing, "deliverBy": None},
        Status.DELIVERED: {**zero, **delivered, "deliverBy": None, "reviewBy": t + REVIEW_PERIOD},
        Status.COMPLETED: {**zero, **delivered, "deliverBy": None},
        Status.REVISION_REQUESTED: {
            **zero,
            **delivered,
            "deliverBy": None,
            "respondBy": t + RESPONSE_WINDOW,
            "revisionsUsed": 1,
        },
        Status.IN_REVISION: {**zero, **delivered, "deliverBy": t + DELIVERY, "revisionsUsed": 1},
        Status.REFUND_REQUESTED: {**zero, **delivered, "deliverBy": None, "respondBy": t + RESPONSE_WINDOW},
        Status.REFUNDED: {**zero, **delivered, "deliverBy": None},
        Status.RESOLVED: {**zero, **nothing, "deliverBy": None},
    }
    return {"status": int(status), **table[status]}


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.name)
def test_get_order_reports_the_status_deadlines_and_counters(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    order = flow.order(ref)
    want = fields_after(status, flow.now())
    got = order_fields(order)
    if want["deliverBy"] is None:
        assert got["deliverBy"] > 0
        want["deliverBy"] = got["deliverBy"]
    assert got == want
    assert (order.clientRating, order.freelancerRating, order.clientReplied, order.freelancerReplied) == (
        0,
        0,
        False,
        False,
    )
    assert (order.deadlineProposer, order.proposedDeliverBy) == (ZERO_ADDRESS, 0)


@pytest.mark.parametrize("status", [s for s in Status if s != Status.NONE], ids=lambda s: s.name)
def test_get_order_reports_the_terms_in_every_status(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status, amount=AMOUNT + 5, maxRevisions=3, deliveryDuration=DELIVERY)
    terms = flow.order(ref).terms
    assert (terms.orderRef, terms.client, terms.freelancer, terms.token) == (
        ref,
        flow.client.address,
        flow.freelancer.address,
        NATIVE,
    )
    assert (terms.amount, terms.feeBps, terms.deliveryDuration, terms.maxRevisions) == (
        AMOUNT + 5,
        FEE_BPS,
        DELIVERY,
        3,
    )


def test_get_order_of_an_unknown_ref_is_empty(flow: Flow) -> None:
    order = flow.order(label("nobody"))
    assert order.status == Status.NONE
    assert (order.terms.client, order.terms.freelancer, order.terms.amount) == (ZERO_ADDRESS, ZERO_ADDRESS, 0)


def test_get_order_shows_a_pending_proposal_only_for_the_work_it_was_made_for(flow: Flow) -> None:
    ref = flow.drive_to(Status.IN_PROGRESS)
    date = flow.now() + 10 * 86_400
    flow.escrow.proposeDeadline(ref, date, sender=flow.freelancer)
    order = flow.order(ref)
    assert (order.deadlineProposer, order.proposedDeliverBy) == (flow.freelancer.address, date)
    flow.escrow.openDispute(ref, REASON, sender=flow.client)
    order = flow.order(ref)
    assert (order.deadlineProposer, order.proposedDeliverBy) == (ZERO_ADDRESS, 0)
