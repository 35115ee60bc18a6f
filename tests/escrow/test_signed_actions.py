"""Gasless actions: ``executeWithSig``, ``fundWithSig`` and ``settle``, with EOAs and an ERC-1271 wallet.

A party's signed action, submitted by anyone, must do exactly what the party's own call does; every way a
signature can be stale, foreign, forged or mis-shaped must fail with the error that says which.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ape
import pytest
from eth_abi import encode

from offchain.eip712 import Action, Domain, PartyAction, Status, action_digest, sign_digest

from ._stages import PARTY_MOVES, PartyMove, completed, delivered, disputed, funded, h, in_progress
from .conftest import AMOUNT, HOUR, NATIVE, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, Market

ZERO = "0x0000000000000000000000000000000000000000"


def raw_signed(
    market: Market,
    party: Any,
    action: int,
    ref: bytes,
    args: bytes,
    *,
    signer: Any = None,
    nonce: int | None = None,
    deadline: int | None = None,
) -> tuple[tuple[Any, ...], bytes]:
    """A PartyAction with arbitrary raw ``args`` (``Market.signed`` only makes well-formed ones)."""
    message = PartyAction(
        party=str(party.address),
        action=Action(action),
        orderRef=ref,
        args=args,
        nonce=market.escrow.nonces(party) if nonce is None else nonce,
        deadline=market.now() + HOUR if deadline is None else deadline,
    )
    return message.as_tuple(), sign_digest((signer or party).private_key, action_digest(market.domain, message))


def footprint(escrow: Any, ref: bytes, receipt: Any, accounts: list[Any]) -> dict[str, Any]:
    """Everything an action can change: the order, balances, reputations and the lifecycle events it emitted."""
    return {
        "order": escrow.getOrder(ref),
        "credits": [escrow.withdrawable(NATIVE, a) for a in accounts],
        "reputation": [escrow.reputationOf(a) for a in accounts],
        "events": [
            (log.event_name, dict(log.event_arguments))
            for log in receipt.events
            if log.event_name != "SignedActionExecuted"
        ],
    }


# ==== EVERY PARTY ACTION, SIGNED ====


@pytest.mark.parametrize("move", PARTY_MOVES, ids=[m.id for m in PARTY_MOVES])
def test_signed_party_action_submitted_by_a_third_party_has_the_direct_calls_effect(
    move: PartyMove, market, escrow, chain, keeper, fee_recipient
):
    party = getattr(market, move.party)
    terms = move.stage(market)
    ref = terms.orderRef
    args = move.args(market, terms)
    at = market.now() + 10
    watched = [market.client, market.freelancer, fee_recipient, keeper]
    nonce = escrow.nonces(party)
    snapshot = chain.snapshot()

    market.advance_to(at)
    receipt = getattr(escrow, move.function)(ref, *args, sender=party)
    direct = footprint(escrow, ref, receipt, watched)
    assert escrow.nonces(party) == nonce
    chain.restore(snapshot)

    market.advance_to(at)
    message, signature = market.signed(party, move.action, ref, *args)
    receipt = escrow.executeWithSig(message, signature, sender=keeper)
    relayed = footprint(escrow, ref, receipt, watched)

    assert relayed == direct
    assert escrow.nonces(party) == nonce + 1
    executed = [log for log in receipt.events if log.event_name == "SignedActionExecuted"]
    assert [(e.party, e.action, e.ref, e.nonce) for e in executed] == [(party.address, move.action, ref, nonce)]


def test_nonces_count_each_partys_signed_actions_separately(market, escrow, client, freelancer, keeper):
    terms = funded(market)
    ref = terms.orderRef
    steps = [
        (client, Action.SUBMIT_REQUIREMENTS, (h(1),)),
        (freelancer, Action.DELIVER, (h(2),)),
        (client, Action.REQUEST_REVISION, (h(3),)),
        (freelancer, Action.ACKNOWLEDGE_REVISION, ()),
        (freelancer, Action.DELIVER, (h(4),)),
        (client, Action.ACCEPT, ()),
    ]
    seen: list[tuple[str, int]] = []
    for party, action, args in steps:
        receipt = escrow.executeWithSig(*market.signed(party, action, ref, *args), sender=keeper)
        seen.append(next((e.party, e.nonce) for e in receipt.events if e.event_name == "SignedActionExecuted"))

    assert seen == [
        (client.address, 0),
        (freelancer.address, 0),
        (client.address, 1),
        (freelancer.address, 1),
        (freelancer.address, 2),
        (client.address, 2),
    ]
    assert (escrow.nonces(client), escrow.nonces(freelancer)) == (3, 3)
    assert escrow.getOrder(ref).status == Status.COMPLETED


def test_replayed_signed_action_is_rejected_with_the_expected_nonce(market, escrow, client, keeper):
    terms = funded(market)
    message, signature = market.signed(client, Action.SUBMIT_REQUIREMENTS, terms.orderRef, h(1))
    escrow.executeWithSig(message, signature, sender=keeper)

    with ape.reverts(escrow.InvalidNonce, party=client.address, expected=1, given=0):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_with_a_future_nonce_is_rejected(market, escrow, client, keeper):
    terms = funded(market)
    message, signature = market.signed(client, Action.CANCEL, terms.orderRef, nonce=1)
    with ape.reverts(escrow.InvalidNonce, party=client.address, expected=0, given=1):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_for_one_order_cannot_be_used_on_another(market, escrow, client, keeper):
    first, other = funded(market), funded(market)
    message, signature = market.signed(client, Action.CANCEL, first.orderRef)
    moved = (*message[:2], other.orderRef, *message[3:])
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.executeWithSig(moved, signature, sender=keeper)
    assert escrow.getOrder(other.orderRef).status == Status.AWAITING_REQUIREMENTS


@pytest.mark.parametrize("field", ["action", "orderRef", "args", "deadline"])
def test_signed_action_with_a_field_changed_after_signing_is_rejected(field, market, escrow, client, keeper):
    terms = in_progress(market)
    message, signature = market.signed(client, Action.OPEN_DISPUTE, terms.orderRef, h(1))
    index = {"action": 1, "orderRef": 2, "args": 3, "deadline": 5}[field]
    changed = {
        "action": int(Action.REQUEST_REFUND),
        "orderRef": funded(market).orderRef,
        "args": h(2),
        "deadline": message[5] + 1,
    }[field]
    tampered = (*message[:index], changed, *message[index + 1 :])
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.executeWithSig(tampered, signature, sender=keeper)
    escrow.executeWithSig(message, signature, sender=keeper)
    assert escrow.getOrder(terms.orderRef).status == Status.DISPUTED


def test_signed_action_one_second_past_its_deadline_is_expired(market, escrow, client, keeper):
    terms = funded(market)
    deadline = market.now() + 100
    message, signature = market.signed(client, Action.CANCEL, terms.orderRef, deadline=deadline)
    market.advance_to(deadline + 1)
    with ape.reverts(escrow.SignatureExpired, now_=deadline + 1, deadline=deadline):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_at_its_deadline_is_accepted(market, escrow, client, keeper):
    terms = funded(market)
    deadline = market.now() + 100
    message, signature = market.signed(client, Action.CANCEL, terms.orderRef, deadline=deadline)
    market.advance_to(deadline)
    receipt = escrow.executeWithSig(message, signature, sender=keeper)
    assert receipt.timestamp == deadline
    assert escrow.getOrder(terms.orderRef).status == Status.CANCELLED


def test_signed_action_for_another_chain_id_is_rejected(market, escrow, chain, client, keeper):
    terms = funded(market)
    foreign = Domain(chain.chain_id + 1, str(escrow.address))
    message, signature = market.signed(client, Action.CANCEL, terms.orderRef, domain=foreign)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.executeWithSig(message, signature, sender=keeper)


@pytest.fixture
def second_escrow(project, admin, fee_recipient):
    return project.OrderEscrow.deploy(admin, fee_recipient, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, sender=admin)


def test_signed_action_for_another_escrow_deployment_is_rejected(market, escrow, second_escrow, chain, client, keeper):
    terms = funded(market)
    foreign = Domain(chain.chain_id, str(second_escrow.address))
    message, signature = market.signed(client, Action.CANCEL, terms.orderRef, domain=foreign)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_naming_a_party_that_did_not_sign_it_is_rejected(market, escrow, client, freelancer, keeper):
    terms = delivered(market)
    message, signature = market.signed(client, Action.ACCEPT, terms.orderRef, signer=freelancer)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_by_a_party_the_action_is_not_for_is_unauthorized(market, escrow, freelancer, keeper):
    terms = delivered(market)
    message, signature = market.signed(freelancer, Action.ACCEPT, terms.orderRef)
    with ape.reverts(escrow.UnauthorizedCaller, ref=terms.orderRef, caller=freelancer.address):
        escrow.executeWithSig(message, signature, sender=keeper)


def test_signed_action_by_an_outsider_for_itself_is_unauthorized(market, escrow, outsider, keeper):
    terms = in_progress(market)
    message, signature = market.signed(outsider, Action.OPEN_DISPUTE, terms.orderRef, h(1))
    with ape.reverts(escrow.UnauthorizedCaller, ref=terms.orderRef, caller=outsider.address):
        escrow.executeWithSig(message, signature, sender=keeper)


@pytest.mark.parametrize("signature", [bytes(65), b"", bytes(64) + b"\x1b"], ids=["zeros", "empty", "zero-r-s"])
def test_signature_recovering_nobody_cannot_act_for_the_zero_address(signature, market, escrow, keeper):
    terms = funded(market)
    message = PartyAction(ZERO, Action.CANCEL, terms.orderRef, b"", 0, market.now() + HOUR)
    with ape.reverts(escrow.InvalidSignature, party=ZERO):
        escrow.executeWithSig(message.as_tuple(), signature, sender=keeper)
    assert escrow.getOrder(terms.orderRef).status == Status.AWAITING_REQUIREMENTS


MALFORMED_ARGS: list[tuple[str, Any, str, bytes]] = [
    ("accept-with-an-argument", Action.ACCEPT, "client", h(1)),
    ("deliver-without-a-hash", Action.DELIVER, "freelancer", b""),
    ("deliver-with-two-words", Action.DELIVER, "freelancer", h(1) + h(2)),
    ("deliver-with-a-short-hash", Action.DELIVER, "freelancer", h(1)[:31]),
    ("propose-deadline-beyond-uint64", Action.PROPOSE_DEADLINE, "client", encode(["uint256"], [2**64])),
    ("review-without-a-comment", Action.REVIEW, "client", encode(["uint256"], [5])),
    ("cancel-with-an-argument", Action.CANCEL, "client", h(1)),
]
MALFORMED_STAGE = {
    Action.ACCEPT: delivered,
    Action.DELIVER: in_progress,
    Action.PROPOSE_DEADLINE: in_progress,
    Action.REVIEW: completed,
    Action.CANCEL: funded,
}


@pytest.mark.parametrize(
    ("action", "role", "args"), [c[1:] for c in MALFORMED_ARGS], ids=[c[0] for c in MALFORMED_ARGS]
)
def test_signed_action_with_malformed_args_is_rejected(action, role, args, market, escrow, keeper):
    terms = MALFORMED_STAGE[action](market)
    party = getattr(market, role)
    message, signature = raw_signed(market, party, action, terms.orderRef, args)
    with ape.reverts(escrow.InvalidActionArgs, action=action, length=len(args)):
        escrow.executeWithSig(message, signature, sender=keeper)
    assert escrow.nonces(party) == 0


@pytest.mark.parametrize(("rating", "reported"), [(0, 0), (6, 6), (256, 255)])
def test_signed_review_with_a_rating_out_of_range_is_rejected(rating, reported, market, escrow, client, keeper):
    terms = completed(market)
    args = encode(["uint256", "bytes32"], [rating, h(1)])
    message, signature = raw_signed(market, client, Action.REVIEW, terms.orderRef, args)
    with ape.reverts(escrow.InvalidRating, rating=reported):
        escrow.executeWithSig(message, signature, sender=keeper)


NOT_SIGNABLE: list[tuple[Action, Any]] = [
    (Action.FINALIZE, delivered),
    (Action.START_REVISION, delivered),
    (Action.RESOLVE_DISPUTE, disputed),
    (Action.SETTLE, disputed),
    (Action.FUND, funded),
]


@pytest.mark.parametrize(("action", "stage"), NOT_SIGNABLE, ids=[a.name.lower() for a, _ in NOT_SIGNABLE])
def test_action_that_is_not_a_partys_cannot_be_signed(action, stage, market, escrow, client, keeper):
    terms = stage(market)
    message, signature = raw_signed(market, client, action, terms.orderRef, b"")
    with ape.reverts(escrow.ActionNotSignable, action=action):
        escrow.executeWithSig(message, signature, sender=keeper)
    assert escrow.nonces(client) == 0


# ==== FUND WITH SIGNATURE ====


def test_fund_with_sig_pulls_a_bep20_order_for_the_client(market, escrow, token, client, keeper):
    terms = market.terms(token=token)
    client_before, escrow_before, keeper_before = (token.balanceOf(a) for a in (client, escrow, keeper))

    receipt = escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(terms), sender=keeper)

    assert token.balanceOf(client) == client_before - AMOUNT
    assert token.balanceOf(escrow) == escrow_before + AMOUNT
    assert token.balanceOf(keeper) == keeper_before
    order = escrow.getOrder(terms.orderRef)
    assert (order.status, order.terms.client, order.terms.token) == (
        Status.AWAITING_REQUIREMENTS,
        client.address,
        token.address,
    )
    funded_log = next(log for log in receipt.events if log.event_name == "OrderFunded")
    assert (funded_log.client, funded_log.amount) == (client.address, AMOUNT)
    assert escrow.nonces(client) == 0  # the consent is bound to the single-use ref, not to a nonce


def test_fund_with_sig_rejects_a_consent_signed_by_someone_else(market, escrow, token, client, outsider, keeper):
    terms = market.terms(token=token)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(terms, signer=outsider), sender=keeper)


def test_fund_with_sig_rejects_a_consent_to_other_terms(market, escrow, token, client, keeper):
    consented = market.terms(token=token)
    terms = replace(consented, amount=2 * AMOUNT)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(consented), sender=keeper)
    assert token.balanceOf(escrow) == 0


def test_fund_with_sig_rejects_a_consent_for_another_deployment(market, escrow, second_escrow, token, keeper):
    terms = market.terms(token=token)
    foreign = Market(second_escrow, market.chain, market.quote_signer, market.client, market.freelancer)
    with ape.reverts(escrow.InvalidSignature, party=market.client.address):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), foreign.consent(terms), sender=keeper)


def test_fund_with_sig_rejects_native_bnb(market, escrow, keeper):
    terms = market.terms(token=NATIVE)
    with ape.reverts(escrow.InvalidTerms, ref=terms.orderRef, field="token"):
        escrow.fundWithSig(terms.as_tuple(), market.quote(terms), market.consent(terms), sender=keeper)


def test_fund_with_sig_consent_cannot_fund_twice(market, escrow, token, keeper):
    terms = market.terms(token=token)
    quote, consent = market.quote(terms), market.consent(terms)
    escrow.fundWithSig(terms.as_tuple(), quote, consent, sender=keeper)
    with ape.reverts(escrow.OrderExists, ref=terms.orderRef):
        escrow.fundWithSig(terms.as_tuple(), quote, consent, sender=keeper)
    assert token.balanceOf(escrow) == AMOUNT


# ==== SETTLEMENT ====


def test_settle_with_both_signatures_resolves_with_an_exact_split(market, escrow, client, freelancer, outsider):
    terms, _ = market.fund(market.terms(amount=999_999, feeBps=1_000))
    ref = terms.orderRef
    escrow.submitRequirements(ref, h(1), sender=client)
    escrow.openDispute(ref, h(2), sender=freelancer)

    receipt = escrow.settle(
        ref, 3_333, market.settlement(ref, 3_333, client), market.settlement(ref, 3_333, freelancer), sender=outsider
    )

    # share = 999_999 * 3_333 // 10_000 = 333_299; fee = 333_299 * 1_000 // 10_000 = 33_329
    assert escrow.withdrawable(NATIVE, client) == 666_700
    assert escrow.withdrawable(NATIVE, freelancer) == 299_970
    assert escrow.withdrawable(NATIVE, escrow.feeRecipient()) == 33_329
    assert escrow.getOrder(ref).status == Status.RESOLVED
    resolved = next(log for log in receipt.events if log.event_name == "DisputeResolved")
    assert (
        resolved.settled,
        resolved.freelancerBps,
        resolved.clientAmount,
        resolved.freelancerAmount,
        resolved.fee,
    ) == (
        True,
        3_333,
        666_700,
        299_970,
        33_329,
    )


@pytest.mark.parametrize(
    ("client_signer", "freelancer_signer", "missing"),
    [
        ("client", "client", "freelancer"),
        ("freelancer", "freelancer", "client"),
        ("outsider", "freelancer", "client"),
        ("client", "outsider", "freelancer"),
        ("freelancer", "client", "client"),
    ],
)
def test_settle_names_the_party_whose_signature_is_missing(
    client_signer, freelancer_signer, missing, request, market, escrow, outsider
):
    terms = disputed(market)
    ref = terms.orderRef
    client_sig = market.settlement(ref, 5_000, request.getfixturevalue(client_signer))
    freelancer_sig = market.settlement(ref, 5_000, request.getfixturevalue(freelancer_signer))
    with ape.reverts(escrow.InvalidSignature, party=request.getfixturevalue(missing).address):
        escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=outsider)


def test_settle_rejects_signatures_over_a_different_split(market, escrow, client, freelancer, outsider):
    ref = disputed(market).orderRef
    client_sig, freelancer_sig = market.settlement(ref, 6_000, client), market.settlement(ref, 6_000, freelancer)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=outsider)


def test_settle_rejects_signatures_made_for_another_order(market, escrow, client, freelancer, outsider):
    ref, other = disputed(market).orderRef, disputed(market).orderRef
    client_sig, freelancer_sig = market.settlement(other, 5_000, client), market.settlement(other, 5_000, freelancer)
    with ape.reverts(escrow.InvalidSignature, party=client.address):
        escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=outsider)


def test_settle_rejects_a_split_above_100_percent(market, escrow, client, freelancer, outsider):
    ref = disputed(market).orderRef
    client_sig, freelancer_sig = market.settlement(ref, 10_001, client), market.settlement(ref, 10_001, freelancer)
    with ape.reverts(escrow.InvalidSplit, freelancerBps=10_001):
        escrow.settle(ref, 10_001, client_sig, freelancer_sig, sender=outsider)


def test_settle_is_only_for_a_disputed_order(market, escrow, client, freelancer, outsider):
    ref = delivered(market).orderRef
    client_sig, freelancer_sig = market.settlement(ref, 5_000, client), market.settlement(ref, 5_000, freelancer)
    with ape.reverts(escrow.WrongStatus, ref=ref, current=Status.DELIVERED):
        escrow.settle(ref, 5_000, client_sig, freelancer_sig, sender=outsider)


# ==== ERC-1271 WALLET AS CLIENT ====


@pytest.fixture
def wallet_owner(accounts):
    return accounts[8]


@pytest.fixture
def stranger_key(accounts):
    return accounts[9]


@pytest.fixture
def wallet(project, wallet_owner):
    return project.MockERC1271Wallet.deploy(wallet_owner, sender=wallet_owner)


@pytest.fixture
def wallet_market(market, wallet) -> Market:
    """The market with the contract wallet as client (its owner's key signs for it)."""
    return replace(market, client=wallet)


def wallet_funds(m: Market, wallet: Any, owner: Any) -> bytes:
    terms = m.terms(client=str(wallet.address))
    owner.transfer(wallet, terms.amount)
    calldata = m.escrow.fund.encode_input(terms.as_tuple(), m.quote(terms))
    wallet.execute(m.escrow, terms.amount, calldata, sender=owner)
    return terms.orderRef


def test_wallet_client_funds_through_execute_and_withdraws_its_refund(wallet_market, escrow, wallet, wallet_owner):
    ref = wallet_funds(wallet_market, wallet, wallet_owner)
    assert escrow.getOrder(ref).terms.client == wallet.address
    wallet.execute(escrow, 0, escrow.cancel.encode_input(ref), sender=wallet_owner)

    wallet.execute(escrow, 0, escrow.withdraw.encode_input(NATIVE), sender=wallet_owner)

    assert wallet.balance == AMOUNT
    assert escrow.withdrawable(NATIVE, wallet) == 0


def test_wallet_client_signs_party_actions_with_its_owners_key(
    wallet_market, escrow, wallet, wallet_owner, freelancer, keeper
):
    m = wallet_market
    ref = wallet_funds(m, wallet, wallet_owner)
    escrow.executeWithSig(*m.signed(wallet, Action.SUBMIT_REQUIREMENTS, ref, h(1), signer=wallet_owner), sender=keeper)
    escrow.deliver(ref, h(2), sender=freelancer)
    escrow.executeWithSig(*m.signed(wallet, Action.ACCEPT, ref, signer=wallet_owner), sender=keeper)

    assert escrow.getOrder(ref).status == Status.COMPLETED
    assert escrow.nonces(wallet) == 2
    assert escrow.withdrawable(NATIVE, freelancer) == AMOUNT - AMOUNT // 10


def test_wallet_rejects_a_party_action_signed_by_another_key(
    wallet_market, escrow, wallet, wallet_owner, stranger_key, keeper
):
    ref = wallet_funds(wallet_market, wallet, wallet_owner)
    message, signature = wallet_market.signed(wallet, Action.CANCEL, ref, signer=stranger_key)
    with ape.reverts(escrow.InvalidSignature, party=wallet.address):
        escrow.executeWithSig(message, signature, sender=keeper)


@pytest.mark.parametrize(("key", "settles"), [("wallet_owner", True), ("stranger_key", False)])
def test_wallet_settlement_counts_only_with_its_owners_key(
    key, settles, request, wallet_market, escrow, wallet, wallet_owner, freelancer, outsider
):
    ref = wallet_funds(wallet_market, wallet, wallet_owner)
    wallet.execute(escrow, 0, escrow.submitRequirements.encode_input(ref, h(1)), sender=wallet_owner)
    escrow.openDispute(ref, h(2), sender=freelancer)
    wallet_sig = wallet_market.settlement(ref, 2_500, request.getfixturevalue(key))
    freelancer_sig = wallet_market.settlement(ref, 2_500, freelancer)

    if settles:
        escrow.settle(ref, 2_500, wallet_sig, freelancer_sig, sender=outsider)
        assert escrow.withdrawable(NATIVE, wallet) == AMOUNT * 3 // 4
        assert escrow.getOrder(ref).status == Status.RESOLVED
    else:
        with ape.reverts(escrow.InvalidSignature, party=wallet.address):
            escrow.settle(ref, 2_500, wallet_sig, freelancer_sig, sender=outsider)


@pytest.mark.parametrize(("key", "funds"), [("wallet_owner", True), ("stranger_key", False)])
def test_wallet_fund_with_sig_consent_counts_only_with_its_owners_key(
    key, funds, request, wallet_market, escrow, token, wallet, wallet_owner, admin, keeper
):
    token.mint(wallet, AMOUNT, sender=admin)
    wallet.approve(token, escrow, AMOUNT, sender=wallet_owner)
    terms = wallet_market.terms(token=token, client=str(wallet.address))
    consent = wallet_market.consent(terms, signer=request.getfixturevalue(key))

    if funds:
        escrow.fundWithSig(terms.as_tuple(), wallet_market.quote(terms), consent, sender=keeper)
        assert (token.balanceOf(wallet), token.balanceOf(escrow)) == (0, AMOUNT)
        assert escrow.getOrder(terms.orderRef).terms.client == wallet.address
    else:
        with ape.reverts(escrow.InvalidSignature, party=wallet.address):
            escrow.fundWithSig(terms.as_tuple(), wallet_market.quote(terms), consent, sender=keeper)
