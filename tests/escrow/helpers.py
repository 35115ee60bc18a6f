"""Shared helpers of the OrderEscrow lifecycle suite: drive an order to any status, move the clock, check the books.

Test modules pull the two fixtures in by importing them (they are registered under the names ``flow`` and
``money_flow``, so the test arguments do not shadow the imports)::

    from tests.escrow.helpers import flow_fixture, money_flow_fixture  # noqa: F401

- ``flow``: a :class:`Flow` whose orders are in native BNB;
- ``money_flow``: the same, parametrized over native BNB and the allow-listed BEP-20 (ids ``bnb`` / ``bep20``).

Errors: ``with ape.reverts(escrow.WrongStatus, ref=ref, current=status):`` checks the custom error and each
named value (ape 0.8.51 decodes the revert data against the escrow's ABI); values left out are not checked.

Time: every boundary test sets the next block's timestamp with :meth:`Flow.at` right before the transaction
(a reverted transaction is mined too, so it uses up the timestamp it was given).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_utils import keccak

from offchain.eip712 import Lateness, OrderTerms, Status
from tests.escrow.conftest import (
    AMOUNT,
    DAY,
    DELIVERY,
    FEE_BPS,
    HOUR,
    NATIVE,
    RESPONSE_WINDOW,
    REVIEW_PERIOD,
    SERIOUS_DELAY,
    Market,
)

__all__ = [
    "AMOUNT",
    "DAY",
    "DELIVERABLE",
    "DELIVERY",
    "FEE_BPS",
    "HOUR",
    "NATIVE",
    "REASON",
    "REQUIREMENTS",
    "RESPONSE_WINDOW",
    "REVIEW_PERIOD",
    "SERIOUS_DELAY",
    "Books",
    "Flow",
    "Lateness",
    "Status",
    "completion",
    "everyone_but",
    "flow_fixture",
    "label",
    "money_flow_fixture",
    "other_statuses",
    "split",
]

BPS = 10_000


def label(text: str) -> bytes:
    """A recognisable bytes32 (requirements, deliverable, reason, comment hashes)."""
    return keccak(text=text)


REQUIREMENTS = label("requirements")
DELIVERABLE = label("deliverable")
REASON = label("reason")
PARTY_NAMES = ("client", "freelancer", "arbiter", "outsider", "keeper", "fee_recipient", "admin")


# The kinds of account a wrong caller can be: the order's other party, the platform's roles, and a stranger
# (the keeper and the fee recipient are strangers to an order too; they stand in for "anyone" where anyone may call).
CALLER_KINDS = ("client", "freelancer", "arbiter", "admin", "outsider")


def everyone_but(*allowed: str) -> list[str]:
    """The kinds of account except ``allowed``: the wrong callers of a call only ``allowed`` may make."""
    return [name for name in CALLER_KINDS if name not in allowed]


def completion(amount: int, fee_bps: int) -> tuple[int, int]:
    """``OrderMath.completion``: (freelancer amount, fee); the fee rounds down, the freelancer takes the rest."""
    fee = amount * fee_bps // BPS
    return amount - fee, fee


def split(amount: int, freelancer_bps: int, fee_bps: int) -> tuple[int, int, int]:
    """``OrderMath.split``: (client, freelancer, fee); every division rounds down, the client takes the remainder."""
    share = amount * freelancer_bps // BPS
    fee = share * fee_bps // BPS
    return amount - share, share - fee, fee


def other_statuses(*allowed: Status) -> list[Status]:
    """Every status (None included) in which a call allowed only in ``allowed`` must revert with WrongStatus."""
    return [s for s in Status if s not in allowed]


@dataclass
class Flow:
    """One marketplace on the deployed escrow: its parties, its asset, and orders driven to any status."""

    market: Market
    escrow: Any
    chain: Any
    token: Any
    parties: dict[str, Any]
    asset: str = NATIVE

    # ---- parties -------------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        return self.parties["client"]

    @property
    def freelancer(self) -> Any:
        return self.parties["freelancer"]

    @property
    def arbiter(self) -> Any:
        return self.parties["arbiter"]

    @property
    def outsider(self) -> Any:
        return self.parties["outsider"]

    @property
    def keeper(self) -> Any:
        return self.parties["keeper"]

    @property
    def fee_recipient(self) -> Any:
        return self.parties["fee_recipient"]

    def party(self, name: str) -> Any:
        return self.parties[name]

    @property
    def native(self) -> bool:
        return self.asset == NATIVE

    # ---- time ----------------------------------------------------------------------------------------------

    def at(self, timestamp: int) -> None:
        """The next block (so the next transaction) is mined at exactly ``timestamp``."""
        self.market.advance_to(timestamp)

    def mine_at(self, timestamp: int) -> None:
        """Mine an empty block at ``timestamp`` so views (``availableActions``) see that time."""
        self.chain.mine(timestamp=timestamp)

    def now(self) -> int:
        return int(self.chain.blocks.head.timestamp)

    # ---- orders --------------------------------------------------------------------------------------------

    def terms(self, **overrides: Any) -> OrderTerms:
        overrides.setdefault("token", self.asset)
        return self.market.terms(**overrides)

    def fund(self, terms: OrderTerms | None = None, **overrides: Any) -> OrderTerms:
        terms = terms or self.terms(**overrides)
        self.market.fund(terms)
        return terms

    def order(self, ref: bytes) -> Any:
        return self.escrow.getOrder(ref)

    def status(self, ref: bytes) -> Status:
        return Status(int(self.escrow.getOrder(ref).status))

    def drive_to(self, status: Status, **overrides: Any) -> bytes:
        """Fund an order (terms ``overrides``) and take it to ``status`` by its ordinary path; returns the ref.

        Paths: Delivered = requirements + an on-time delivery; RevisionRequested/InRevision = one revision
        requested (and acknowledged); RefundRequested = a refund requested on the delivery; Disputed = opened by
        the client while InProgress; Completed = accepted; Cancelled = cancelled by the client; Refunded = refund
        accepted by the freelancer; Resolved = the arbiter split 50/50.
        """
        e, c, f = self.escrow, self.client, self.freelancer
        if status == Status.NONE:
            return label(f"never funded {self.market.counter}")
        ref = self.fund(**overrides).orderRef
        if status == Status.AWAITING_REQUIREMENTS:
            return ref
        if status == Status.CANCELLED:
            e.cancel(ref, sender=c)
            return ref
        e.submitRequirements(ref, REQUIREMENTS, sender=c)
        if status == Status.IN_PROGRESS:
            return ref
        if status in (Status.DISPUTED, Status.RESOLVED):
            e.openDispute(ref, REASON, sender=c)
            if status == Status.RESOLVED:
                e.resolveDispute(ref, 5_000, sender=self.arbiter)
            return ref
        e.deliver(ref, DELIVERABLE, sender=f)
        if status == Status.DELIVERED:
            return ref
        if status == Status.COMPLETED:
            e.accept(ref, sender=c)
        elif status in (Status.REVISION_REQUESTED, Status.IN_REVISION):
            e.requestRevision(ref, REASON, sender=c)
            if status == Status.IN_REVISION:
                e.acknowledgeRevision(ref, sender=f)
        elif status in (Status.REFUND_REQUESTED, Status.REFUNDED):
            e.requestRefund(ref, REASON, sender=c)
            if status == Status.REFUNDED:
                e.acceptRefund(ref, sender=f)
        assert self.status(ref) == status, f"drive_to({status.name}) ended in {self.status(ref).name}"
        return ref

    def deliver_late(self, ref: bytes, seconds_after_deliver_by: int) -> Any:
        """Deliver exactly ``seconds_after_deliver_by`` after the current ``deliverBy`` (negative: before it)."""
        self.at(int(self.order(ref).deliverBy) + seconds_after_deliver_by)
        return self.escrow.deliver(ref, DELIVERABLE, sender=self.freelancer)

    # ---- money ---------------------------------------------------------------------------------------------

    def events(self, receipt: Any, name: str) -> list[Any]:
        """The escrow's ``name`` events in ``receipt`` (token Transfer events and others left out)."""
        escrow = str(self.escrow.address).lower()
        return [log for log in receipt.events if log.event_name == name and str(log.contract_address).lower() == escrow]

    def event(self, receipt: Any, name: str) -> Any:
        """The one ``name`` event the escrow emitted in ``receipt``."""
        [log] = self.events(receipt, name)
        return log

    def wallet(self, account: Any) -> int:
        """``account``'s balance of this flow's asset (wei for BNB, token units for the BEP-20)."""
        if self.native:
            return int(self.chain.provider.get_balance(str(account.address)))
        return int(self.token.balanceOf(account))

    def credit(self, account: Any) -> int:
        return int(self.escrow.withdrawable(self.asset, account))

    def books(self) -> Books:
        return Books(self)


@dataclass
class Books:
    """A snapshot of wallets and escrow credits of the order's parties, the fee recipient and the escrow.

    :meth:`check` asserts every tracked balance moved by exactly what the test expects (0 if not named), to
    the wei: for native BNB it takes off the gas each given receipt's sender paid, and it checks the escrow's
    own balance moved by the opposite of the parties' wallets (no wei created or lost).
    """

    flow: Flow
    wallets: dict[str, int] = field(default_factory=dict)
    credits: dict[str, int] = field(default_factory=dict)
    escrow_balance: int = 0

    TRACKED = ("client", "freelancer", "fee_recipient", "arbiter", "outsider", "keeper")

    def __post_init__(self) -> None:
        self.wallets = {n: self.flow.wallet(self.flow.party(n)) for n in self.TRACKED}
        self.credits = {n: self.flow.credit(self.flow.party(n)) for n in self.TRACKED}
        self.escrow_balance = self.flow.wallet(self.flow.escrow)

    def gas(self, receipts: Iterable[Any]) -> dict[str, int]:
        paid = dict.fromkeys(self.TRACKED, 0)
        if not self.flow.native:
            return paid
        by_address = {str(self.flow.party(n).address).lower(): n for n in self.TRACKED}
        for receipt in receipts:
            name = by_address[str(receipt.sender).lower()]
            paid[name] += int(receipt.gas_used) * int(receipt.gas_price)
        return paid

    def check(self, *receipts: Any, wallet: dict[str, int] | None = None, credit: dict[str, int] | None = None) -> None:
        wallet = wallet or {}
        credit = credit or {}
        unknown = (set(wallet) | set(credit)) - set(self.TRACKED)
        assert not unknown, f"untracked parties {unknown}"
        gas = self.gas(receipts)
        actual_wallets = {n: self.flow.wallet(self.flow.party(n)) - self.wallets[n] for n in self.TRACKED}
        expected_wallets = {n: wallet.get(n, 0) - gas[n] for n in self.TRACKED}
        assert actual_wallets == expected_wallets, "wallet deltas"
        actual_credits = {n: self.flow.credit(self.flow.party(n)) - self.credits[n] for n in self.TRACKED}
        expected_credits = {n: credit.get(n, 0) for n in self.TRACKED}
        assert actual_credits == expected_credits, "withdrawable deltas"
        escrow_delta = self.flow.wallet(self.flow.escrow) - self.escrow_balance
        assert escrow_delta == -sum(wallet.values()), "escrow balance delta"


def _flow(request: pytest.FixtureRequest, market: Market, asset: str) -> Flow:
    # Every chain fixture is requested statically by the fixtures below (never first through getfixturevalue):
    # ape snapshots the chain for each test after static fixtures are set up, so a session fixture set up
    # lazily inside a test (the escrow's deployment) would be reverted with that test.
    return Flow(
        market=market,
        escrow=market.escrow,
        chain=market.chain,
        token=request.getfixturevalue("token"),
        parties={name: request.getfixturevalue(name) for name in PARTY_NAMES},
        asset=asset,
    )


@pytest.fixture(name="flow")
def flow_fixture(
    request: pytest.FixtureRequest,
    market: Market,
    token: Any,
    client: Any,
    freelancer: Any,
    arbiter: Any,
    outsider: Any,
    keeper: Any,
    fee_recipient: Any,
    admin: Any,
) -> Flow:
    return _flow(request, market, NATIVE)


@pytest.fixture(name="money_flow", params=["bnb", "bep20"])
def money_flow_fixture(
    request: pytest.FixtureRequest,
    market: Market,
    token: Any,
    client: Any,
    freelancer: Any,
    arbiter: Any,
    outsider: Any,
    keeper: Any,
    fee_recipient: Any,
    admin: Any,
) -> Flow:
    return _flow(request, market, NATIVE if request.param == "bnb" else str(token.address))
