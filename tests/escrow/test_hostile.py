"""Hostile parties and hostile inputs: receivers that revert or re-enter, taxed and unlisted tokens, reused refs,
stale, foreign, tampered and malformed quotes. Each test asserts the exact custom error and its values."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ape
import pytest
from eth_account import Account
from eth_utils import keccak

from offchain.eip712 import OrderTerms, Status, terms_digest

from ._stages import h
from .conftest import AMOUNT, DAY, FEE_BPS, NATIVE, Market

ACCEPT_PAYMENTS, REVERT_ON_PAYMENT, REENTER_ON_PAYMENT = 0, 1, 2
FEE = AMOUNT * FEE_BPS // 10_000
PAYOUT = AMOUNT - FEE
REVERT_REASON = "HostileReceiver: no thanks"
REENTRANT_CALL = keccak(text="ReentrancyGuardReentrantCall()")[:4]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def hostile(project, escrow, admin):
    return project.HostileReceiver.deploy(escrow, sender=admin)


def hostile_funds(market: Market, hostile: Any, payer: Any) -> OrderTerms:
    """The hostile contract, as the client, funds a BNB order through its ``call``."""
    terms = market.terms(client=str(hostile.address))
    calldata = market.escrow.fund.encode_input(terms.as_tuple(), market.quote(terms))
    hostile.call(calldata, value=terms.amount, sender=payer)
    return terms


def completed_for(market: Market, hostile: Any, caller: Any) -> OrderTerms:
    """A BNB order with the hostile contract as freelancer, delivered through ``call`` and accepted."""
    terms, _ = market.fund(market.terms(freelancer=str(hostile.address)))
    escrow = market.escrow
    escrow.submitRequirements(terms.orderRef, h(1), sender=market.client)
    hostile.call(escrow.deliver.encode_input(terms.orderRef, h(2)), sender=caller)
    escrow.accept(terms.orderRef, sender=market.client)
    return terms


def in_progress_for(market: Market, hostile: Any) -> OrderTerms:
    terms, _ = market.fund(market.terms(freelancer=str(hostile.address)))
    market.escrow.submitRequirements(terms.orderRef, h(1), sender=market.client)
    return terms


# ==== RECEIVERS THAT REVERT ====


def test_reverting_client_cannot_block_its_order_and_its_refund_stays_withdrawable(
    market, escrow, hostile, freelancer, outsider
):
    terms = hostile_funds(market, hostile, outsider)
    hostile.setMode(REVERT_ON_PAYMENT, sender=outsider)

    escrow.cancel(terms.orderRef, sender=freelancer)

    assert escrow.getOrder(terms.orderRef).status == Status.CANCELLED
    with ape.reverts(REVERT_REASON):
        hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    assert escrow.withdrawable(NATIVE, hostile) == AMOUNT
    assert escrow.balance == AMOUNT

    hostile.setMode(ACCEPT_PAYMENTS, sender=outsider)
    hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    assert hostile.received() == AMOUNT
    assert escrow.withdrawable(NATIVE, hostile) == 0
    assert escrow.balance == 0


def test_reverting_freelancer_cannot_block_completion_nor_anyone_elses_withdrawal(
    market, escrow, hostile, client, freelancer, fee_recipient, outsider
):
    hostile.setMode(REVERT_ON_PAYMENT, sender=outsider)
    terms = completed_for(market, hostile, outsider)
    assert escrow.getOrder(terms.orderRef).status == Status.COMPLETED
    # An honest order beside it: its freelancer and the fee recipient must still get paid.
    honest, _ = market.fund()
    escrow.cancel(honest.orderRef, sender=client)

    with ape.reverts(REVERT_REASON):
        hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    assert escrow.withdrawable(NATIVE, hostile) == PAYOUT

    for account, credit in ((fee_recipient, FEE), (client, AMOUNT)):
        before = account.balance
        receipt = escrow.withdraw(NATIVE, sender=account)
        assert account.balance - before == credit - receipt.total_fees_paid
        assert escrow.withdrawable(NATIVE, account) == 0
    assert escrow.balance == PAYOUT
    with ape.reverts(escrow.NothingToWithdraw, token=NATIVE, account=freelancer.address):
        escrow.withdraw(NATIVE, sender=freelancer)


def test_reverting_freelancer_cannot_block_a_refund_of_its_order(market, escrow, hostile, client, outsider):
    hostile.setMode(REVERT_ON_PAYMENT, sender=outsider)
    terms = in_progress_for(market, hostile)
    hostile.call(escrow.deliver.encode_input(terms.orderRef, h(2)), sender=outsider)
    escrow.requestRefund(terms.orderRef, h(3), sender=client)
    hostile.call(escrow.acceptRefund.encode_input(terms.orderRef), sender=outsider)

    assert escrow.getOrder(terms.orderRef).status == Status.REFUNDED
    before = client.balance
    receipt = escrow.withdraw(NATIVE, sender=client)
    assert client.balance - before == AMOUNT - receipt.total_fees_paid
    assert escrow.withdrawable(NATIVE, hostile) == 0


# ==== RECEIVERS THAT RE-ENTER ====


def _reentry(escrow: Any, ref: bytes, now: int) -> dict[str, bytes]:
    return {
        "withdraw": escrow.withdraw.encode_input(NATIVE),
        "deliver": escrow.deliver.encode_input(ref, h(9)),
        "openDispute": escrow.openDispute.encode_input(ref, h(9)),
        "proposeDeadline": escrow.proposeDeadline.encode_input(ref, now + 30 * DAY),
        "cancel": escrow.cancel.encode_input(ref),
    }


@pytest.mark.parametrize("reentry", ["withdraw", "deliver", "openDispute", "proposeDeadline", "cancel"])
def test_receiver_reentering_from_its_payment_hook_is_stopped_and_cannot_drain(
    reentry, market, escrow, hostile, client, outsider
):
    paid = completed_for(market, hostile, outsider)
    live = in_progress_for(market, hostile)  # a second order the hostile freelancer could act on
    hostile.setReentry(_reentry(escrow, live.orderRef, market.now())[reentry], sender=outsider)
    hostile.setMode(REENTER_ON_PAYMENT, sender=outsider)
    assert escrow.balance == 2 * AMOUNT

    receipt = hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)

    assert hostile.reentrySucceeded() is False
    assert bytes(hostile.reentryError()) == REENTRANT_CALL
    assert hostile.received() == PAYOUT
    assert hostile.balance == PAYOUT
    assert escrow.balance == 2 * AMOUNT - PAYOUT
    assert escrow.withdrawable(NATIVE, hostile) == 0
    withdrawals = [log for log in receipt.events if log.event_name == "Withdrawn"]
    assert [(w.account, w.amount) for w in withdrawals] == [(hostile.address, PAYOUT)]
    assert escrow.getOrder(live.orderRef).status == Status.IN_PROGRESS
    assert escrow.getOrder(paid.orderRef).status == Status.COMPLETED


def test_reentry_failure_is_the_guard_because_the_same_call_succeeds_outside_the_hook(
    market, escrow, hostile, outsider
):
    completed_for(market, hostile, outsider)
    live = in_progress_for(market, hostile)
    reentry = escrow.deliver.encode_input(live.orderRef, h(9))
    hostile.setReentry(reentry, sender=outsider)
    hostile.setMode(REENTER_ON_PAYMENT, sender=outsider)
    hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    assert hostile.reentrySucceeded() is False

    hostile.call(reentry, sender=outsider)

    assert escrow.getOrder(live.orderRef).status == Status.DELIVERED


def test_second_withdraw_after_a_reentrant_one_finds_nothing(market, escrow, hostile, outsider):
    completed_for(market, hostile, outsider)
    hostile.setReentry(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    hostile.setMode(REENTER_ON_PAYMENT, sender=outsider)
    hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)

    with ape.reverts(escrow.NothingToWithdraw, token=NATIVE, account=hostile.address):
        hostile.call(escrow.withdraw.encode_input(NATIVE), sender=outsider)
    assert hostile.received() == PAYOUT


# ==== TOKENS ====


@pytest.fixture
def taxed(project, escrow, admin, client):
    fot = project.FeeOnTransferERC20.deploy(sender=admin)
    escrow.setTokenAllowed(fot, True, sender=admin)
    fot.mint(client, 10 * AMOUNT, sender=admin)
    fot.approve(escrow, 2**256 - 1, sender=client)
    return fot


def test_fee_on_transfer_token_is_rejected_at_funding(market, escrow, taxed, client):
    terms = market.terms(token=taxed)
    with ape.reverts(escrow.TransferAmountMismatch, token=taxed.address, expected=AMOUNT, received=AMOUNT * 99 // 100):
        escrow.fund(terms.as_tuple(), market.quote(terms), sender=client)
    assert escrow.getOrder(terms.orderRef).status == Status.NONE
    assert taxed.balanceOf(client) == 10 * AMOUNT


def test_fee_on_transfer_token_is_rejected_at_funding_with_signature(market, escrow, taxed, keeper):
    terms = market.terms(token=taxed)
    with ape.reverts(escrow.TransferAmountMismatch, token=taxed.address, expected=AMOUNT, received=AMOUNT * 99 // 100):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(terms), sender=keeper)


def test_token_not_on_the_allowlist_is_rejected(project, market, escrow, admin, client):
    unlisted = project.MockERC20.deploy("Unlisted", "UNL", sender=admin)
    unlisted.mint(client, AMOUNT, sender=admin)
    unlisted.approve(escrow, AMOUNT, sender=client)
    terms = market.terms(token=unlisted)
    with ape.reverts(escrow.TokenNotAllowed, token=unlisted.address):
        escrow.fund(terms.as_tuple(), market.quote(terms), sender=client)


def test_token_removed_from_the_allowlist_is_rejected_for_new_orders_only(market, escrow, token, admin, client):
    live, _ = market.fund(token=token)
    escrow.setTokenAllowed(token, False, sender=admin)

    terms = market.terms(token=token)
    with ape.reverts(escrow.TokenNotAllowed, token=token.address):
        escrow.fund(terms.as_tuple(), market.quote(terms), sender=client)
    escrow.cancel(live.orderRef, sender=client)
    before = token.balanceOf(client)
    escrow.withdraw(token, sender=client)
    assert token.balanceOf(client) - before == AMOUNT


# ==== ORDER REFS ====


def test_reused_order_ref_is_rejected(market, escrow, client):
    terms, _ = market.fund()
    again = replace(terms, amount=2 * AMOUNT)
    with ape.reverts(escrow.OrderExists, ref=terms.orderRef):
        escrow.fund(again.as_tuple(), market.quote(again), value=again.amount, sender=client)


def test_order_ref_stays_used_after_its_order_is_final(market, escrow, token, client, keeper):
    terms, _ = market.fund()
    escrow.cancel(terms.orderRef, sender=client)
    assert escrow.withdrawable(NATIVE, client) == AMOUNT

    with ape.reverts(escrow.OrderExists, ref=terms.orderRef):
        escrow.fund(terms.as_tuple(), market.quote(terms), value=AMOUNT, sender=client)
    in_token = replace(terms, token=str(token.address))
    with ape.reverts(escrow.OrderExists, ref=terms.orderRef):
        escrow.fundWithSig(in_token.as_tuple(), market.quote(in_token), market.consent(in_token), sender=keeper)
    assert escrow.getOrder(terms.orderRef).status == Status.CANCELLED


# ==== QUOTES ====


def test_quote_is_accepted_at_its_expiry_and_rejected_one_second_later(market, escrow, client):
    expiry = market.now() + 100
    on_time = market.terms(quoteExpiry=expiry)
    late = market.terms(quoteExpiry=expiry)

    market.advance_to(expiry)
    market.fund(on_time)
    market.advance_to(expiry + 1)
    with ape.reverts(escrow.QuoteExpired, ref=late.orderRef, now_=expiry + 1, expiry=expiry):
        escrow.fund(late.as_tuple(), market.quote(late), value=AMOUNT, sender=client)

    assert escrow.getOrder(on_time.orderRef).status == Status.AWAITING_REQUIREMENTS


@pytest.mark.parametrize("signer_name", ["outsider", "client", "arbiter", "admin"])
def test_quote_signed_by_a_non_signer_names_the_recovered_address(signer_name, request, market, escrow, client):
    signer = request.getfixturevalue(signer_name)
    terms = market.terms()
    with ape.reverts(escrow.InvalidQuoteSignature, ref=terms.orderRef, recovered=signer.address):
        escrow.fund(terms.as_tuple(), market.quote(terms, signer=signer), value=AMOUNT, sender=client)


def _tampered(field: str, terms: OrderTerms, other: dict[str, Any]) -> OrderTerms:
    changes: dict[str, Any] = {
        "orderRef": bytes(31) + b"\x01",
        "client": other["outsider"],
        "freelancer": other["outsider"],
        "token": other["token"],
        "amount": terms.amount + 1,
        "feeBps": terms.feeBps + 1,
        "deliveryDuration": terms.deliveryDuration + 1,
        "maxRevisions": terms.maxRevisions + 1,
        "quoteExpiry": terms.quoteExpiry + 1,
    }
    return replace(terms, **{field: changes[field]})


@pytest.mark.parametrize(
    "field",
    [
        "orderRef",
        "client",
        "freelancer",
        "token",
        "amount",
        "feeBps",
        "deliveryDuration",
        "maxRevisions",
        "quoteExpiry",
    ],
)
def test_quote_with_any_term_changed_after_signing_is_rejected(field, market, escrow, token, client, outsider):
    signed = market.terms()
    quote = market.quote(signed)
    terms = _tampered(field, signed, {"outsider": str(outsider.address), "token": str(token.address)})
    recovered = Account._recover_hash(terms_digest(market.domain, terms), signature=quote)
    assert recovered != market.quote_signer.address
    payer = outsider if field == "client" else client
    value = terms.amount if terms.token == NATIVE else 0

    with ape.reverts(escrow.InvalidQuoteSignature, ref=terms.orderRef, recovered=recovered):
        escrow.fund(terms.as_tuple(), quote, value=value, sender=payer)

    escrow.fund(signed.as_tuple(), quote, value=AMOUNT, sender=client)  # the untouched quote still funds


def _high_s(signature: bytes) -> bytes:
    """The malleable twin of a valid signature: same signer under raw ecrecover, refused by OpenZeppelin."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def _compact(signature: bytes) -> bytes:
    """The EIP-2098 64-byte form, which the escrow does not take."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (s | (v - 27) << 255).to_bytes(32, "big")


MALFORMED: dict[str, Any] = {
    "empty": lambda sig: b"",
    "truncated": lambda sig: sig[:64],
    "compact-eip2098": _compact,
    "one-byte-too-long": lambda sig: sig + b"\x00",
    "v-is-29": lambda sig: sig[:64] + b"\x1d",
    "v-is-0": lambda sig: sig[:64] + b"\x00",
    "high-s-twin": _high_s,
    "zero-r-and-s": lambda sig: bytes(64) + b"\x1b",
}


@pytest.mark.parametrize("malform", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_quote_signature_recovers_nobody(malform, market, escrow, client):
    terms = market.terms()
    quote = market.quote(terms)
    with ape.reverts(escrow.InvalidQuoteSignature, ref=terms.orderRef, recovered=ZERO):
        escrow.fund(terms.as_tuple(), MALFORMED[malform](quote), value=AMOUNT, sender=client)
