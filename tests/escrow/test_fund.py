"""Funding: an order exists only once the client locked its amount on a quote the quote signer signed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    FEE_BPS,
    NATIVE,
    Flow,
    Status,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
)

UINT96_MAX = 2**96 - 1


def send_fund(
    flow: Flow, terms: Any, *, value: int | None = None, sender: Any = None, quote: bytes | None = None
) -> Any:
    """Call ``fund`` with full control over the value, the sender and the quote."""
    if value is None:
        value = terms.amount if terms.token == NATIVE else 0
    return flow.escrow.fund(
        terms.as_tuple(), quote or flow.market.quote(terms), value=value, sender=sender or flow.client
    )


def test_fund_locks_the_exact_amount_and_awaits_requirements(money_flow: Flow) -> None:
    books = money_flow.books()
    terms = money_flow.terms()
    receipt = send_fund(money_flow, terms)

    books.check(receipt, wallet={"client": -AMOUNT})
    order = money_flow.order(terms.orderRef)
    assert order.status == Status.AWAITING_REQUIREMENTS
    assert order.terms.client == money_flow.client.address
    assert order.terms.freelancer == money_flow.freelancer.address
    assert order.terms.token == terms.token
    assert order.terms.amount == AMOUNT
    assert order.terms.feeBps == FEE_BPS
    assert (order.deliverBy, order.reviewBy, order.respondBy, order.deliveryCount) == (0, 0, 0, 0)
    event = money_flow.event(receipt, "OrderFunded")
    assert (event.ref, event.client, event.freelancer, event.token, event.amount) == (
        terms.orderRef,
        money_flow.client.address,
        money_flow.freelancer.address,
        terms.token,
        AMOUNT,
    )


def test_fund_accepts_the_maximum_fee_and_odd_amounts(money_flow: Flow) -> None:
    books = money_flow.books()
    terms = money_flow.terms(amount=12_345_678_901, feeBps=2_000)
    receipt = send_fund(money_flow, terms)
    books.check(receipt, wallet={"client": -12_345_678_901})
    assert money_flow.order(terms.orderRef).terms.feeBps == 2_000


def test_fund_accepts_an_amount_of_exactly_uint96_max(flow: Flow, token: Any, client: Any, admin: Any) -> None:
    token.mint(client, UINT96_MAX, sender=admin)
    bep20 = replace(flow, asset=str(token.address))
    terms = bep20.terms(amount=UINT96_MAX)
    send_fund(bep20, terms)
    assert bep20.order(terms.orderRef).terms.amount == UINT96_MAX


@pytest.mark.parametrize(
    ("field", "override"),
    [
        ("orderRef", {"orderRef": b"\x00" * 32}),
        ("freelancer", {"freelancer": NATIVE}),
        ("amount", {"amount": 0}),
        ("deliveryDuration", {"deliveryDuration": 0}),
    ],
)
def test_fund_rejects_malformed_terms_naming_the_field(money_flow: Flow, field: str, override: dict[str, Any]) -> None:
    terms = money_flow.terms(**override)
    with ape.reverts(money_flow.escrow.InvalidTerms, ref=terms.orderRef, field=field):
        send_fund(money_flow, terms)


def test_fund_rejects_a_freelancer_who_is_the_client(flow: Flow) -> None:
    terms = flow.terms(freelancer=str(flow.client.address))
    with ape.reverts(flow.escrow.InvalidTerms, ref=terms.orderRef, field="freelancer"):
        send_fund(flow, terms)


def test_fund_rejects_an_amount_above_uint96_max(flow: Flow, token: Any, client: Any, admin: Any) -> None:
    token.mint(client, UINT96_MAX + 1, sender=admin)
    terms = flow.terms(token=str(token.address), amount=UINT96_MAX + 1)
    with ape.reverts(flow.escrow.InvalidTerms, ref=terms.orderRef, field="amount"):
        send_fund(flow, terms)


def test_fund_with_a_zero_client_is_refused_because_the_caller_is_not_the_client(flow: Flow) -> None:
    # The caller check comes first, so a zero client can never be funded through `fund`.
    terms = flow.terms(client=NATIVE)
    with ape.reverts(flow.escrow.UnauthorizedCaller, ref=terms.orderRef, caller=flow.client.address):
        send_fund(flow, terms)


def test_fund_rejects_a_fee_above_twenty_percent(money_flow: Flow) -> None:
    terms = money_flow.terms(feeBps=2_001)
    with ape.reverts(money_flow.escrow.FeeTooHigh, feeBps=2_001, maxFeeBps=2_000):
        send_fund(money_flow, terms)


@pytest.mark.parametrize("value", [0, AMOUNT - 1, AMOUNT + 1])
def test_fund_in_bnb_rejects_any_value_but_the_amount(flow: Flow, value: int) -> None:
    terms = flow.terms()
    with ape.reverts(flow.escrow.WrongNativeAmount, expected=AMOUNT, received=value):
        send_fund(flow, terms, value=value)


def test_fund_in_a_bep20_rejects_any_native_value(flow: Flow, token: Any) -> None:
    terms = flow.terms(token=str(token.address))
    with ape.reverts(flow.escrow.WrongNativeAmount, expected=0, received=1):
        send_fund(flow, terms, value=1)


def test_fund_rejects_a_ref_already_funded(money_flow: Flow) -> None:
    terms = money_flow.fund()
    with ape.reverts(money_flow.escrow.OrderExists, ref=terms.orderRef):
        send_fund(money_flow, terms)


def test_fund_rejects_a_ref_reused_after_its_order_was_cancelled(money_flow: Flow) -> None:
    terms = money_flow.fund()
    money_flow.escrow.cancel(terms.orderRef, sender=money_flow.client)
    again = money_flow.terms(orderRef=terms.orderRef, amount=AMOUNT * 2)
    with ape.reverts(money_flow.escrow.OrderExists, ref=terms.orderRef):
        send_fund(money_flow, again)


def test_fund_is_accepted_at_the_exact_second_the_quote_expires(money_flow: Flow) -> None:
    terms = money_flow.terms()
    money_flow.at(terms.quoteExpiry)
    send_fund(money_flow, terms)
    assert money_flow.status(terms.orderRef) == Status.AWAITING_REQUIREMENTS


def test_fund_rejects_a_quote_one_second_after_it_expired(money_flow: Flow) -> None:
    terms = money_flow.terms()
    money_flow.at(terms.quoteExpiry + 1)
    with ape.reverts(
        money_flow.escrow.QuoteExpired, ref=terms.orderRef, now_=terms.quoteExpiry + 1, expiry=terms.quoteExpiry
    ):
        send_fund(money_flow, terms)


@pytest.mark.parametrize("caller", ["freelancer", "outsider", "arbiter", "admin"])
def test_fund_is_refused_to_anyone_but_the_client(money_flow: Flow, caller: str) -> None:
    terms = money_flow.terms()
    sender = money_flow.party(caller)
    with ape.reverts(money_flow.escrow.UnauthorizedCaller, ref=terms.orderRef, caller=sender.address):
        send_fund(money_flow, terms, sender=sender)


def test_fund_rejects_a_quote_not_signed_by_the_quote_signer(flow: Flow) -> None:
    terms = flow.terms()
    forged = flow.market.quote(terms, signer=flow.outsider)
    with ape.reverts(flow.escrow.InvalidQuoteSignature, ref=terms.orderRef, recovered=flow.outsider.address):
        send_fund(flow, terms, quote=forged)


def test_fund_rejects_terms_that_differ_from_the_signed_quote(flow: Flow) -> None:
    terms = flow.terms()
    quote = flow.market.quote(terms)
    cheaper = replace(terms, amount=AMOUNT - 1)
    with ape.reverts(flow.escrow.InvalidQuoteSignature):
        send_fund(flow, cheaper, quote=quote)
    assert flow.status(terms.orderRef) == Status.NONE


def test_fund_rejects_a_token_not_on_the_allowlist(flow: Flow, project: Any, admin: Any) -> None:
    other = project.MockERC20.deploy("Other", "OTH", sender=admin)
    terms = flow.terms(token=str(other.address))
    with ape.reverts(flow.escrow.TokenNotAllowed, token=other.address):
        send_fund(flow, terms)


def test_fund_rejects_a_fee_on_transfer_token(flow: Flow, project: Any, admin: Any, client: Any) -> None:
    taxed = project.FeeOnTransferERC20.deploy(sender=admin)
    flow.escrow.setTokenAllowed(taxed, True, sender=admin)
    taxed.mint(client, AMOUNT, sender=admin)
    taxed.approve(flow.escrow, AMOUNT, sender=client)
    terms = flow.terms(token=str(taxed.address))
    with ape.reverts(flow.escrow.TransferAmountMismatch, token=taxed.address, expected=AMOUNT):
        send_fund(flow, terms)


def test_fund_is_refused_while_paused(money_flow: Flow, admin: Any) -> None:
    money_flow.escrow.pause(sender=admin)
    terms = money_flow.terms()
    with ape.reverts(money_flow.escrow.EnforcedPause):
        send_fund(money_flow, terms)
