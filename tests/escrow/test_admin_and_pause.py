"""The admin's powers and their limits: roles, fee recipient, token allowlist, the pause of new orders only,
the arbiter's role, quote-signer revocation and the constructor's checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak
from web3.exceptions import ContractLogicError

from offchain.eip712 import Status

from ._stages import PARTY_MOVES, PartyMove, delivered, disputed, h, response_window_over, review_period_over
from .conftest import AMOUNT, DAY, FEE_BPS, HOUR, NATIVE, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, Market

ADMIN_ROLE = bytes(32)
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
QUOTE_SIGNER_ROLE = keccak(text="QUOTE_SIGNER_ROLE")
ZERO = "0x0000000000000000000000000000000000000000"
YEAR = 365 * DAY


# ==== ROLES ====


@pytest.mark.parametrize(
    "role", [QUOTE_SIGNER_ROLE, ARBITER_ROLE, ADMIN_ROLE], ids=["quote-signer", "arbiter", "admin"]
)
@pytest.mark.parametrize("caller_name", ["outsider", "arbiter", "quote_signer"])
def test_only_the_admin_grants_and_revokes_roles(role, caller_name, request, escrow, admin, keeper):
    caller = request.getfixturevalue(caller_name)
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=caller.address, neededRole=ADMIN_ROLE):
        escrow.grantRole(role, keeper, sender=caller)

    escrow.grantRole(role, keeper, sender=admin)
    assert escrow.hasRole(role, keeper)
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=caller.address, neededRole=ADMIN_ROLE):
        escrow.revokeRole(role, keeper, sender=caller)

    escrow.revokeRole(role, keeper, sender=admin)
    assert not escrow.hasRole(role, keeper)


def test_role_constants_are_the_hashes_of_their_names(escrow):
    assert bytes(escrow.ARBITER_ROLE()) == ARBITER_ROLE
    assert bytes(escrow.QUOTE_SIGNER_ROLE()) == QUOTE_SIGNER_ROLE
    assert bytes(escrow.DEFAULT_ADMIN_ROLE()) == ADMIN_ROLE


# ==== FEE RECIPIENT ====


def test_only_the_admin_sets_the_fee_recipient(escrow, fee_recipient, outsider):
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=outsider.address, neededRole=ADMIN_ROLE):
        escrow.setFeeRecipient(outsider, sender=outsider)
    assert escrow.feeRecipient() == fee_recipient.address


def test_fee_recipient_cannot_be_the_zero_address(escrow, admin, fee_recipient):
    with ape.reverts(escrow.ZeroFeeRecipient):
        escrow.setFeeRecipient(ZERO, sender=admin)
    assert escrow.feeRecipient() == fee_recipient.address


def test_new_fee_recipient_gets_later_fees_and_the_old_one_keeps_its_credit(
    market, escrow, admin, client, fee_recipient, keeper
):
    fee = AMOUNT * FEE_BPS // 10_000
    before = delivered(market)
    escrow.accept(before.orderRef, sender=client)

    receipt = escrow.setFeeRecipient(keeper, sender=admin)
    after = delivered(market)
    escrow.accept(after.orderRef, sender=client)

    changed = [log for log in receipt.events if log.event_name == "FeeRecipientChanged"]
    assert [(e.previous, e.current) for e in changed] == [(fee_recipient.address, keeper.address)]
    assert escrow.withdrawable(NATIVE, fee_recipient) == fee
    assert escrow.withdrawable(NATIVE, keeper) == fee


# ==== TOKEN ALLOWLIST ====


def test_only_the_admin_allows_tokens(project, market, escrow, admin, client, outsider):
    usdc = project.MockERC20.deploy("USD Coin", "USDC", sender=admin)
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=outsider.address, neededRole=ADMIN_ROLE):
        escrow.setTokenAllowed(usdc, True, sender=outsider)
    assert not escrow.allowedTokens(usdc)

    receipt = escrow.setTokenAllowed(usdc, True, sender=admin)

    assert [(e.token, e.allowed) for e in receipt.events] == [(usdc.address, True)]
    usdc.mint(client, AMOUNT, sender=admin)
    usdc.approve(escrow, AMOUNT, sender=client)
    terms, _ = market.fund(token=usdc)
    assert usdc.balanceOf(escrow) == AMOUNT
    assert escrow.getOrder(terms.orderRef).terms.token == usdc.address


def test_native_bnb_cannot_be_put_on_the_token_allowlist(escrow, admin):
    with ape.reverts(escrow.TokenNotAllowed, token=ZERO):
        escrow.setTokenAllowed(ZERO, True, sender=admin)


# ==== PAUSE ====


def test_only_the_admin_pauses_and_unpauses(escrow, admin, outsider):
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=outsider.address, neededRole=ADMIN_ROLE):
        escrow.pause(sender=outsider)
    escrow.pause(sender=admin)
    with ape.reverts(escrow.AccessControlUnauthorizedAccount, account=outsider.address, neededRole=ADMIN_ROLE):
        escrow.unpause(sender=outsider)
    assert escrow.paused()


def test_pause_blocks_fund(market, escrow, admin, client):
    escrow.pause(sender=admin)
    terms = market.terms()
    with ape.reverts(escrow.EnforcedPause):
        escrow.fund(terms.as_tuple(), market.quote(terms), value=AMOUNT, sender=client)


def test_pause_blocks_fund_with_sig(market, escrow, token, admin, keeper):
    escrow.pause(sender=admin)
    terms = market.terms(token=token)
    with ape.reverts(escrow.EnforcedPause):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(terms), sender=keeper)


def test_unpause_restores_funding(market, escrow, token, admin, keeper):
    escrow.pause(sender=admin)
    escrow.unpause(sender=admin)

    native, _ = market.fund()
    in_token = market.terms(token=token)
    escrow.fundWithSig(in_token.as_tuple(), market.quote(in_token), market.consent(in_token), sender=keeper)

    assert escrow.getOrder(native.orderRef).status == Status.AWAITING_REQUIREMENTS
    assert escrow.getOrder(in_token.orderRef).status == Status.AWAITING_REQUIREMENTS


@pytest.mark.parametrize("move", PARTY_MOVES, ids=[m.id for m in PARTY_MOVES])
def test_pause_does_not_stop_a_party_action(move: PartyMove, market, escrow, admin):
    terms = move.stage(market)
    escrow.pause(sender=admin)
    receipt = getattr(escrow, move.function)(
        terms.orderRef, *move.args(market, terms), sender=getattr(market, move.party)
    )
    assert move.event in [log.event_name for log in receipt.events]


@pytest.mark.parametrize("move", PARTY_MOVES, ids=[m.id for m in PARTY_MOVES])
def test_pause_does_not_stop_a_signed_party_action(move: PartyMove, market, escrow, admin, keeper):
    terms = move.stage(market)
    escrow.pause(sender=admin)
    party = getattr(market, move.party)
    signed = market.signed(party, move.action, terms.orderRef, *move.args(market, terms))
    receipt = escrow.executeWithSig(*signed, sender=keeper)
    assert move.event in [log.event_name for log in receipt.events]


def _finalize(m: Market, keeper: Any, arbiter: Any) -> tuple[Callable[[], Any], str]:
    ref = review_period_over(m).orderRef
    return lambda: m.escrow.finalize(ref, sender=keeper), "OrderCompleted"


def _start_revision(m: Market, keeper: Any, arbiter: Any) -> tuple[Callable[[], Any], str]:
    ref = response_window_over(m).orderRef
    return lambda: m.escrow.startRevision(ref, sender=keeper), "RevisionStarted"


def _resolve(m: Market, keeper: Any, arbiter: Any) -> tuple[Callable[[], Any], str]:
    ref = disputed(m).orderRef
    return lambda: m.escrow.resolveDispute(ref, 4_000, sender=arbiter), "DisputeResolved"


def _settle(m: Market, keeper: Any, arbiter: Any) -> tuple[Callable[[], Any], str]:
    ref = disputed(m).orderRef
    sigs = (m.settlement(ref, 4_000, m.client), m.settlement(ref, 4_000, m.freelancer))
    return lambda: m.escrow.settle(ref, 4_000, *sigs, sender=keeper), "DisputeResolved"


def _third_refusal(m: Market, keeper: Any, arbiter: Any) -> tuple[Callable[[], Any], str]:
    ref = delivered(m).orderRef
    for _ in range(2):
        m.escrow.requestRefund(ref, h(1), sender=m.client)
        m.escrow.refuseRefund(ref, sender=m.freelancer)
    m.escrow.requestRefund(ref, h(1), sender=m.client)
    return lambda: m.escrow.refuseRefund(ref, sender=m.freelancer), "DisputeOpened"


NOT_A_PARTYS = {
    "finalize": _finalize,
    "start-revision": _start_revision,
    "resolve-dispute": _resolve,
    "settle": _settle,
    "third-refusal-opens-dispute": _third_refusal,
}


@pytest.mark.parametrize("transition", list(NOT_A_PARTYS), ids=list(NOT_A_PARTYS))
def test_pause_does_not_stop_timeouts_rulings_or_settlements(transition, market, escrow, admin, keeper, arbiter):
    call, event = NOT_A_PARTYS[transition](market, keeper, arbiter)
    escrow.pause(sender=admin)
    receipt = call()
    assert event in [log.event_name for log in receipt.events]


@pytest.mark.parametrize("asset", ["native", "token"])
def test_pause_does_not_stop_withdrawals(asset, market, escrow, token, admin, client):
    terms, _ = market.fund(token=NATIVE if asset == "native" else token)
    escrow.cancel(terms.orderRef, sender=client)
    escrow.pause(sender=admin)

    before = client.balance if asset == "native" else token.balanceOf(client)
    receipt = escrow.withdraw(terms.token, sender=client)

    if asset == "native":
        assert client.balance - before == AMOUNT - receipt.total_fees_paid
    else:
        assert token.balanceOf(client) - before == AMOUNT
    assert escrow.withdrawable(terms.token, client) == 0


def test_pause_does_not_stop_admin_work(project, escrow, admin, keeper):
    escrow.pause(sender=admin)
    escrow.setFeeRecipient(keeper, sender=admin)
    escrow.grantRole(ARBITER_ROLE, keeper, sender=admin)
    assert escrow.feeRecipient() == keeper.address
    assert escrow.hasRole(ARBITER_ROLE, keeper)


# ==== ARBITER ====


@pytest.mark.parametrize("caller_name", ["outsider", "admin", "client", "freelancer", "quote_signer"])
def test_resolving_a_dispute_needs_the_arbiter_role(caller_name, request, market, escrow):
    caller = request.getfixturevalue(caller_name)
    ref = disputed(market).orderRef
    with ape.reverts(escrow.UnauthorizedCaller, ref=ref, caller=caller.address):
        escrow.resolveDispute(ref, 5_000, sender=caller)


def test_arbiter_resolves_with_an_exact_split(market, escrow, arbiter, client, freelancer, fee_recipient):
    ref = disputed(market).orderRef
    receipt = escrow.resolveDispute(ref, 2_500, sender=arbiter)
    # share 0.25; fee 10% of the share; the client gets the other 0.75
    assert escrow.withdrawable(NATIVE, client) == AMOUNT * 3 // 4
    assert escrow.withdrawable(NATIVE, freelancer) == AMOUNT // 4 - AMOUNT // 40
    assert escrow.withdrawable(NATIVE, fee_recipient) == AMOUNT // 40
    resolved = next(log for log in receipt.events if log.event_name == "DisputeResolved")
    assert (resolved.settled, resolved.freelancerBps, resolved.fee) == (False, 2_500, AMOUNT // 40)


def test_revoked_arbiter_can_no_longer_resolve(market, escrow, admin, arbiter):
    ref = disputed(market).orderRef
    escrow.revokeRole(ARBITER_ROLE, arbiter, sender=admin)
    with ape.reverts(escrow.UnauthorizedCaller, ref=ref, caller=arbiter.address):
        escrow.resolveDispute(ref, 5_000, sender=arbiter)


def test_arbiter_cannot_resolve_an_order_that_is_not_disputed(market, escrow, arbiter):
    ref = delivered(market).orderRef
    with ape.reverts(escrow.WrongStatus, ref=ref, current=Status.DELIVERED):
        escrow.resolveDispute(ref, 5_000, sender=arbiter)


# ==== QUOTE SIGNER ====


def test_revoked_quote_signers_quotes_stop_working(market, escrow, admin, client, quote_signer):
    live, _ = market.fund()
    terms = market.terms()
    quote = market.quote(terms)

    escrow.revokeRole(QUOTE_SIGNER_ROLE, quote_signer, sender=admin)

    with ape.reverts(escrow.InvalidQuoteSignature, ref=terms.orderRef, recovered=quote_signer.address):
        escrow.fund(terms.as_tuple(), quote, value=AMOUNT, sender=client)
    escrow.cancel(live.orderRef, sender=client)  # orders funded before the revocation carry on
    assert escrow.getOrder(live.orderRef).status == Status.CANCELLED


def test_newly_granted_quote_signer_quotes_work(market, escrow, admin, keeper):
    escrow.grantRole(QUOTE_SIGNER_ROLE, keeper, sender=admin)
    terms = market.terms()
    escrow.fund(terms.as_tuple(), market.quote(terms, signer=keeper), value=AMOUNT, sender=market.client)
    assert escrow.getOrder(terms.orderRef).status == Status.AWAITING_REQUIREMENTS


# ==== CONSTRUCTOR ====


def constructor_revert(project: Any, chain: Any, deployer: Any, *args: Any) -> bytes:
    """Run the constructor in an ``eth_call`` on anvil and return its revert data (ape cannot decode a failed
    deployment's custom error: it reports the init code as the revert message)."""
    code = bytes.fromhex(project.OrderEscrow.contract_type.deployment_bytecode.bytecode[2:])
    data = code + encode(["address", "address", "uint64", "uint64", "uint64"], list(args))
    try:
        chain.provider.web3.eth.call({"from": deployer.address, "data": data})
    except ContractLogicError as exc:
        return bytes.fromhex(str(exc.data)[2:])
    raise AssertionError("the constructor did not revert")


def custom_error(signature: str, types: list[str], values: list[Any]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, values)


def test_constructor_rejects_a_zero_fee_recipient(project, chain, admin):
    revert = constructor_revert(
        project, chain, admin, admin.address, ZERO, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY
    )
    assert revert == custom_error("ZeroFeeRecipient()", [], [])


TIMINGS = ["responseWindow", "reviewPeriod", "seriousDelay"]


@pytest.mark.parametrize("value", [0, YEAR + 1, 2**64 - 1])
@pytest.mark.parametrize("name", TIMINGS)
def test_constructor_rejects_a_timing_out_of_range(name, value, project, chain, admin, fee_recipient):
    timings = dict(zip(TIMINGS, (RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY), strict=True))
    timings[name] = value
    revert = constructor_revert(project, chain, admin, admin.address, fee_recipient.address, *timings.values())
    assert revert == custom_error("InvalidTiming(string,uint64)", ["string", "uint64"], [name, value])


def test_constructor_checks_the_fee_recipient_before_the_timings(project, chain, admin):
    revert = constructor_revert(project, chain, admin, admin.address, ZERO, 0, 0, 0)
    assert revert == custom_error("ZeroFeeRecipient()", [], [])


@pytest.mark.parametrize("value", [1, HOUR, YEAR])
def test_constructor_accepts_timings_at_the_bounds(value, project, admin, fee_recipient):
    deployed = project.OrderEscrow.deploy(admin, fee_recipient, value, value, value, sender=admin)
    assert (deployed.responseWindow(), deployed.reviewPeriod(), deployed.seriousDelay()) == (value, value, value)
    assert deployed.hasRole(ADMIN_ROLE, admin)
    assert deployed.feeRecipient() == fee_recipient.address
