"""Reviews: once an order completed or was resolved, each party rates the other once; a low rating may get a reply."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    Flow,
    Status,
    everyone_but,
    flow_fixture,  # noqa: F401
    label,
    other_statuses,
)

REVIEWABLE = (Status.COMPLETED, Status.RESOLVED)
COMMENT = label("comment")
REPLY = label("reply")


def reviewee_of(reviewer: str) -> str:
    return "freelancer" if reviewer == "client" else "client"


@pytest.mark.parametrize("status", REVIEWABLE, ids=lambda s: s.name)
@pytest.mark.parametrize("reviewer", ["client", "freelancer"])
@pytest.mark.parametrize("rating", [1, 5])
def test_review_records_the_rating_and_the_reviewee_s_reputation(
    flow: Flow, status: Status, reviewer: str, rating: int
) -> None:
    ref = flow.drive_to(status)
    reviewee = flow.party(reviewee_of(reviewer))
    books = flow.books()
    receipt = flow.escrow.review(ref, rating, COMMENT, sender=flow.party(reviewer))

    books.check(receipt)
    order = flow.order(ref)
    assert order.status == status
    given = order.clientRating if reviewer == "client" else order.freelancerRating
    other = order.freelancerRating if reviewer == "client" else order.clientRating
    assert (given, other) == (rating, 0)
    reputation = flow.escrow.reputationOf(reviewee)
    assert (reputation.ratingSum, reputation.ratingCount) == (rating, 1)
    assert flow.escrow.reputationOf(flow.party(reviewer)).ratingCount == 0
    event = flow.event(receipt, "Reviewed")
    assert (event.ref, event.reviewer, event.reviewee, event.rating, event.commentHash) == (
        ref,
        flow.party(reviewer).address,
        reviewee.address,
        rating,
        COMMENT,
    )


def test_both_parties_review_the_same_order_independently(flow: Flow) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    flow.escrow.review(ref, 2, COMMENT, sender=flow.client)
    flow.escrow.review(ref, 4, COMMENT, sender=flow.freelancer)
    order = flow.order(ref)
    assert (order.clientRating, order.freelancerRating) == (2, 4)


def test_reputation_sums_and_counts_ratings_across_orders(flow: Flow) -> None:
    for rating in (5, 2, 4):
        ref = flow.drive_to(Status.COMPLETED)
        flow.escrow.review(ref, rating, COMMENT, sender=flow.client)
    ref = flow.drive_to(Status.RESOLVED)
    flow.escrow.review(ref, 1, COMMENT, sender=flow.client)
    reputation = flow.escrow.reputationOf(flow.freelancer)
    assert (reputation.ratingSum, reputation.ratingCount) == (12, 4)


@pytest.mark.parametrize("reviewer", ["client", "freelancer"])
def test_review_is_possible_once_per_party(flow: Flow, reviewer: str) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    sender = flow.party(reviewer)
    flow.escrow.review(ref, 3, COMMENT, sender=sender)
    with ape.reverts(flow.escrow.AlreadyReviewed, ref=ref, reviewer=sender.address):
        flow.escrow.review(ref, 5, COMMENT, sender=sender)
    reputation = flow.escrow.reputationOf(flow.party(reviewee_of(reviewer)))
    assert (reputation.ratingSum, reputation.ratingCount) == (3, 1)


@pytest.mark.parametrize("rating", [0, 6, 255])
def test_review_rejects_a_rating_outside_one_to_five(flow: Flow, rating: int) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    with ape.reverts(flow.escrow.InvalidRating, rating=rating):
        flow.escrow.review(ref, rating, COMMENT, sender=flow.client)


@pytest.mark.parametrize("caller", everyone_but("client", "freelancer"))
def test_review_is_refused_to_anyone_but_the_parties(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.review(ref, 5, COMMENT, sender=sender)


@pytest.mark.parametrize("status", other_statuses(*REVIEWABLE), ids=lambda s: s.name)
def test_review_and_reply_are_refused_unless_completed_or_resolved(flow: Flow, status: Status) -> None:
    ref = flow.drive_to(status)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.review(ref, 5, COMMENT, sender=flow.client)
    with ape.reverts(flow.escrow.WrongStatus, ref=ref, current=status):
        flow.escrow.replyToReview(ref, REPLY, sender=flow.freelancer)


# ==== replyToReview ====


@pytest.mark.parametrize("status", REVIEWABLE, ids=lambda s: s.name)
@pytest.mark.parametrize("reviewer", ["client", "freelancer"])
@pytest.mark.parametrize("rating", [1, 3])
def test_the_reviewed_party_may_reply_to_a_rating_below_four_once(
    flow: Flow, status: Status, reviewer: str, rating: int
) -> None:
    ref = flow.drive_to(status)
    replier_name = reviewee_of(reviewer)
    replier = flow.party(replier_name)
    flow.escrow.review(ref, rating, COMMENT, sender=flow.party(reviewer))
    books = flow.books()
    receipt = flow.escrow.replyToReview(ref, REPLY, sender=replier)

    books.check(receipt)
    event = flow.event(receipt, "ReviewReplied")
    assert (event.ref, event.replier, event.replyHash) == (ref, replier.address, REPLY)
    order = flow.order(ref)
    assert (order.clientReplied, order.freelancerReplied) == (replier_name == "client", replier_name == "freelancer")
    with ape.reverts(flow.escrow.ReplyNotAllowed, ref=ref, caller=replier.address, rating=rating):
        flow.escrow.replyToReview(ref, REPLY, sender=replier)


@pytest.mark.parametrize("rating", [4, 5])
def test_reply_is_refused_to_a_rating_of_four_or_more(flow: Flow, rating: int) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    flow.escrow.review(ref, rating, COMMENT, sender=flow.client)
    with ape.reverts(flow.escrow.ReplyNotAllowed, ref=ref, caller=flow.freelancer.address, rating=rating):
        flow.escrow.replyToReview(ref, REPLY, sender=flow.freelancer)


@pytest.mark.parametrize("party", ["client", "freelancer"])
def test_reply_is_refused_before_the_party_received_a_rating(flow: Flow, party: str) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    sender = flow.party(party)
    with ape.reverts(flow.escrow.ReplyNotAllowed, ref=ref, caller=sender.address, rating=0):
        flow.escrow.replyToReview(ref, REPLY, sender=sender)


def test_the_reviewer_cannot_reply_to_its_own_low_rating(flow: Flow) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    flow.escrow.review(ref, 1, COMMENT, sender=flow.client)
    with ape.reverts(flow.escrow.ReplyNotAllowed, ref=ref, caller=flow.client.address, rating=0):
        flow.escrow.replyToReview(ref, REPLY, sender=flow.client)


@pytest.mark.parametrize("caller", everyone_but("client", "freelancer"))
def test_reply_is_refused_to_anyone_but_the_parties(flow: Flow, caller: str) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    flow.escrow.review(ref, 1, COMMENT, sender=flow.client)
    sender = flow.party(caller)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=sender.address):
        flow.escrow.replyToReview(ref, REPLY, sender=sender)


def test_the_caller_is_checked_before_the_rating(flow: Flow) -> None:
    ref = flow.drive_to(Status.COMPLETED)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=ref, caller=flow.outsider.address):
        flow.escrow.review(ref, 0, COMMENT, sender=flow.outsider)
