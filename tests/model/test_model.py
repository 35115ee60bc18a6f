"""The reference model on its own (no chain): the rules it encodes, read as sentences."""

from __future__ import annotations

from offchain.eip712 import Action, OrderTerms, Status
from offchain.model import NATIVE, Call, Error, Model, Ok, Timings, completion, split

ADMIN, FEES, QUOTE, ARBITER = "0x" + "a" * 40, "0x" + "f" * 40, "0x" + "1" * 40, "0x" + "2" * 40
CLIENT, FREELANCER, OUTSIDER = "0x" + "4" * 40, "0x" + "5" * 40, "0x" + "6" * 40
REF = b"\x07" * 32
T0 = 1_000_000


def funded(amount: int = 10**18, fee_bps: int = 1_000, max_revisions: int = 2) -> Model:
    model = Model(Timings(), admin=ADMIN, fee_recipient=FEES, quote_signers={QUOTE}, arbiters={ARBITER})
    terms = OrderTerms(REF, CLIENT, FREELANCER, NATIVE, amount, fee_bps, 86_400, max_revisions, T0 + 10)
    assert model.apply(Call("fund", CLIENT, T0, value=amount, terms=terms, quote_signer=QUOTE))
    return model


def delivered(model: Model, at: int) -> None:
    assert model.apply(Call("submitRequirements", CLIENT, T0 + 1, ref=REF, args=(b"r" * 32,)))
    assert model.apply(Call("deliver", FREELANCER, at, ref=REF, args=(b"d" * 32,)))


def test_check_does_not_change_the_model() -> None:
    model = funded()
    assert model.check(Call("cancel", CLIENT, T0 + 1, ref=REF)) == Ok(
        "AwaitingRequirements -cancel(client)-> Cancelled"
    )
    assert model.orders[REF].status == Status.AWAITING_REQUIREMENTS
    assert model.withdrawable(NATIVE, CLIENT) == 0


def test_a_wrong_caller_is_rejected_after_the_status() -> None:
    model = funded()
    assert model.check(Call("accept", OUTSIDER, T0 + 1, ref=REF)) == Error("WrongStatus", (REF, 1))
    assert model.check(Call("submitRequirements", OUTSIDER, T0 + 1, ref=REF, args=(b"r" * 32,))) == Error(
        "UnauthorizedCaller", (REF, OUTSIDER)
    )


def test_finalize_is_too_early_at_review_by_and_possible_one_second_later() -> None:
    model = funded()
    delivered(model, T0 + 2)
    review_by = model.orders[REF].deadline
    assert model.check(Call("finalize", OUTSIDER, review_by, ref=REF)) == Error(
        "TooEarly", (REF, review_by, review_by + 1)
    )
    assert model.apply(Call("finalize", OUTSIDER, review_by + 1, ref=REF))
    fee = 10**18 // 10
    assert (model.withdrawable(NATIVE, FREELANCER), model.withdrawable(NATIVE, FEES)) == (10**18 - fee, fee)


def test_the_third_refusal_opens_a_dispute() -> None:
    model = funded()
    delivered(model, T0 + 2)
    for i, expected in enumerate([Status.DELIVERED, Status.DELIVERED, Status.DISPUTED]):
        now = T0 + 10 + 2 * i
        assert model.apply(Call("requestRefund", CLIENT, now, ref=REF, args=(b"x" * 32,)))
        assert model.apply(Call("refuseRefund", FREELANCER, now + 1, ref=REF))
        assert model.orders[REF].status == expected


def test_available_actions_follow_the_clock() -> None:
    model = funded()
    delivered(model, T0 + 2)
    review_by = model.orders[REF].deadline
    assert not model.available_actions(REF, OUTSIDER, review_by) >> Action.FINALIZE & 1
    assert model.available_actions(REF, OUTSIDER, review_by + 1) >> Action.FINALIZE & 1
    assert model.windows(REF, OUTSIDER, T0 + 3)[Action.FINALIZE] == (review_by + 1, None)


def test_splits_and_completions_add_up_to_the_amount() -> None:
    for amount in (1, 7, 9_999, 10**18 + 3):
        for bps in (0, 1, 3_333, 10_000):
            client, freelancer, fee = split(amount, bps, 2_000)
            assert client + freelancer + fee == amount
        assert sum(completion(amount, 2_000)) == amount
