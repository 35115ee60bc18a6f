"""Bring a fresh order to a named stage of its life with direct calls, and describe every party action.

Shared by the signed-action and the pause tests: each party action is listed once with the stage it is
possible in, who makes it and its arguments, so both suites cover the same set and cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offchain.eip712 import Action, OrderTerms

from .conftest import NATIVE, SERIOUS_DELAY, Market


def h(n: int) -> bytes:
    """A recognisable 32-byte hash (requirements, deliverables, reasons, comments)."""
    return bytes([n]) * 32


def funded(m: Market) -> OrderTerms:
    terms, _ = m.fund(token=NATIVE)
    return terms


def in_progress(m: Market) -> OrderTerms:
    terms = funded(m)
    m.escrow.submitRequirements(terms.orderRef, h(1), sender=m.client)
    return terms


def seriously_overdue(m: Market) -> OrderTerms:
    terms = in_progress(m)
    m.advance_to(m.escrow.getOrder(terms.orderRef).deliverBy + SERIOUS_DELAY + 1)
    return terms


def deadline_proposed(m: Market) -> OrderTerms:
    """In progress, with the freelancer's pending proposal to deliver 10 days after now."""
    terms = in_progress(m)
    m.escrow.proposeDeadline(terms.orderRef, m.now() + 10 * 86_400, sender=m.freelancer)
    return terms


def delivered(m: Market) -> OrderTerms:
    terms = in_progress(m)
    m.escrow.deliver(terms.orderRef, h(2), sender=m.freelancer)
    return terms


def review_period_over(m: Market) -> OrderTerms:
    terms = delivered(m)
    m.advance_to(m.escrow.getOrder(terms.orderRef).reviewBy + 1)
    return terms


def revision_requested(m: Market) -> OrderTerms:
    terms = delivered(m)
    m.escrow.requestRevision(terms.orderRef, h(3), sender=m.client)
    return terms


def response_window_over(m: Market) -> OrderTerms:
    terms = revision_requested(m)
    m.advance_to(m.escrow.getOrder(terms.orderRef).respondBy + 1)
    return terms


def refund_requested(m: Market) -> OrderTerms:
    terms = delivered(m)
    m.escrow.requestRefund(terms.orderRef, h(4), sender=m.client)
    return terms


def freelancer_silent(m: Market) -> OrderTerms:
    terms = refund_requested(m)
    m.advance_to(m.escrow.getOrder(terms.orderRef).respondBy + 1)
    return terms


def disputed(m: Market) -> OrderTerms:
    terms = delivered(m)
    m.escrow.openDispute(terms.orderRef, h(5), sender=m.client)
    return terms


def completed(m: Market) -> OrderTerms:
    terms = delivered(m)
    m.escrow.accept(terms.orderRef, sender=m.client)
    return terms


def client_rated_low(m: Market) -> OrderTerms:
    """Completed, and the freelancer gave the client 2 stars (so the client may reply)."""
    terms = completed(m)
    m.escrow.review(terms.orderRef, 2, h(6), sender=m.freelancer)
    return terms


Args = Callable[[Market, OrderTerms], tuple[Any, ...]]


def no_args(m: Market, terms: OrderTerms) -> tuple[Any, ...]:
    return ()


def proposal_date(m: Market, terms: OrderTerms) -> tuple[Any, ...]:
    return (m.now() + 7 * 86_400,)


def pending_proposal_date(m: Market, terms: OrderTerms) -> tuple[Any, ...]:
    return (m.escrow.getOrder(terms.orderRef).proposedDeliverBy,)


@dataclass(frozen=True)
class PartyMove:
    """A party action: the stage it is possible in, who makes it, the direct call, the event it emits, its arguments."""

    action: Action
    party: str  # "client" or "freelancer"
    stage: Callable[[Market], OrderTerms]
    function: str
    event: str
    args: Args = no_args

    @property
    def id(self) -> str:
        return f"{self.action.name.lower()}-by-{self.party}"


def const(*values: Any) -> Args:
    return lambda m, terms: values


PARTY_MOVES: list[PartyMove] = [
    PartyMove(Action.CANCEL, "client", funded, "cancel", "OrderCancelled"),
    PartyMove(Action.CANCEL, "freelancer", funded, "cancel", "OrderCancelled"),
    PartyMove(
        Action.SUBMIT_REQUIREMENTS, "client", funded, "submitRequirements", "RequirementsSubmitted", const(h(11))
    ),
    PartyMove(Action.DELIVER, "freelancer", in_progress, "deliver", "Delivered", const(h(12))),
    PartyMove(Action.REFUND_OVERDUE, "client", seriously_overdue, "refundOverdue", "OrderRefunded"),
    PartyMove(Action.ACCEPT, "client", delivered, "accept", "OrderCompleted"),
    PartyMove(Action.REQUEST_REVISION, "client", delivered, "requestRevision", "RevisionRequested", const(h(13))),
    PartyMove(Action.ACKNOWLEDGE_REVISION, "freelancer", revision_requested, "acknowledgeRevision", "RevisionStarted"),
    PartyMove(Action.PROPOSE_DEADLINE, "client", in_progress, "proposeDeadline", "DeadlineProposed", proposal_date),
    PartyMove(
        Action.AGREE_DEADLINE, "client", deadline_proposed, "agreeDeadline", "DeadlineAgreed", pending_proposal_date
    ),
    PartyMove(Action.REQUEST_REFUND, "client", delivered, "requestRefund", "RefundRequested", const(h(14))),
    PartyMove(Action.ACCEPT_REFUND, "freelancer", refund_requested, "acceptRefund", "OrderRefunded"),
    PartyMove(Action.REFUSE_REFUND, "freelancer", refund_requested, "refuseRefund", "RefundRefused"),
    PartyMove(Action.CLAIM_REFUND, "client", freelancer_silent, "claimRefund", "OrderRefunded"),
    PartyMove(Action.OPEN_DISPUTE, "freelancer", in_progress, "openDispute", "DisputeOpened", const(h(15))),
    PartyMove(Action.REVIEW, "client", completed, "review", "Reviewed", const(5, h(16))),
    PartyMove(Action.REPLY_TO_REVIEW, "client", client_rated_low, "replyToReview", "ReviewReplied", const(h(17))),
]
