"""Withdraw: money leaves the escrow only when an account pulls its whole credited balance of one asset."""

from __future__ import annotations

import ape
import pytest

from tests.escrow.helpers import (
    AMOUNT,
    FEE_BPS,
    NATIVE,
    Flow,
    Status,
    completion,
    flow_fixture,  # noqa: F401
    money_flow_fixture,  # noqa: F401
    split,
)

PAYOUT, FEE = completion(AMOUNT, FEE_BPS)


@pytest.mark.parametrize(("party", "credit"), [("freelancer", PAYOUT), ("fee_recipient", FEE)])
def test_withdraw_sends_the_whole_credit_and_zeroes_it(money_flow: Flow, party: str, credit: int) -> None:
    money_flow.drive_to(Status.COMPLETED)
    account = money_flow.party(party)
    assert money_flow.credit(account) == credit
    books = money_flow.books()
    receipt = money_flow.escrow.withdraw(money_flow.asset, sender=account)

    books.check(receipt, wallet={party: credit}, credit={party: -credit})
    assert money_flow.credit(account) == 0
    event = money_flow.event(receipt, "Withdrawn")
    assert (event.token, event.account, event.amount) == (money_flow.asset, account.address, credit)


def test_native_withdraw_pays_the_credit_less_only_the_gas_the_receiver_paid(flow: Flow) -> None:
    flow.drive_to(Status.COMPLETED)
    before = flow.wallet(flow.freelancer)
    receipt = flow.escrow.withdraw(NATIVE, sender=flow.freelancer)
    gas = int(receipt.gas_used) * int(receipt.gas_price)
    assert gas > 0
    assert flow.wallet(flow.freelancer) == before + PAYOUT - gas


def test_withdraw_sums_the_credits_of_every_order(money_flow: Flow) -> None:
    money_flow.drive_to(Status.COMPLETED)
    money_flow.drive_to(Status.RESOLVED, amount=10_001)
    money_flow.drive_to(Status.CANCELLED, amount=3)
    client_share, freelancer_share, fee_share = split(10_001, 5_000, FEE_BPS)
    expected = {"freelancer": PAYOUT + freelancer_share, "client": client_share + 3, "fee_recipient": FEE + fee_share}
    for party, credit in expected.items():
        account = money_flow.party(party)
        books = money_flow.books()
        receipt = money_flow.escrow.withdraw(money_flow.asset, sender=account)
        books.check(receipt, wallet={party: credit}, credit={party: -credit})
    assert money_flow.wallet(money_flow.escrow) == 0


def test_the_books_balance_from_funding_to_the_last_withdrawal(money_flow: Flow) -> None:
    books = money_flow.books()
    terms = money_flow.terms(amount=10**18 + 1, feeBps=333)
    receipts = [money_flow.market.fund(terms)[1]]
    e, c, f = money_flow.escrow, money_flow.client, money_flow.freelancer
    ref = terms.orderRef
    receipts.append(e.submitRequirements(ref, b"\x01" * 32, sender=c))
    receipts.append(e.deliver(ref, b"\x02" * 32, sender=f))
    receipts.append(e.accept(ref, sender=c))
    payout, fee = completion(10**18 + 1, 333)
    receipts.append(e.withdraw(money_flow.asset, sender=f))
    receipts.append(e.withdraw(money_flow.asset, sender=money_flow.fee_recipient))
    books.check(*receipts, wallet={"client": -(10**18 + 1), "freelancer": payout, "fee_recipient": fee})
    assert payout + fee == 10**18 + 1


@pytest.mark.parametrize("party", ["client", "freelancer", "outsider", "fee_recipient"])
def test_withdraw_without_a_credit_reverts_with_nothing_to_withdraw(money_flow: Flow, party: str) -> None:
    money_flow.drive_to(Status.DELIVERED)  # money locked in an order is not withdrawable
    account = money_flow.party(party)
    with ape.reverts(money_flow.escrow.NothingToWithdraw, token=money_flow.asset, account=account.address):
        money_flow.escrow.withdraw(money_flow.asset, sender=account)


def test_a_second_withdraw_has_nothing_left(money_flow: Flow) -> None:
    money_flow.drive_to(Status.CANCELLED)
    money_flow.escrow.withdraw(money_flow.asset, sender=money_flow.client)
    with ape.reverts(money_flow.escrow.NothingToWithdraw, token=money_flow.asset, account=money_flow.client.address):
        money_flow.escrow.withdraw(money_flow.asset, sender=money_flow.client)


def test_credits_are_kept_per_asset(flow: Flow) -> None:
    bep20 = str(flow.token.address)
    flow.drive_to(Status.CANCELLED, token=bep20)
    assert flow.escrow.withdrawable(bep20, flow.client) == AMOUNT
    with ape.reverts(flow.escrow.NothingToWithdraw, token=NATIVE, account=flow.client.address):
        flow.escrow.withdraw(NATIVE, sender=flow.client)
    flow.escrow.withdraw(bep20, sender=flow.client)
    assert flow.escrow.withdrawable(bep20, flow.client) == 0
