"""Fixtures for the OrderEscrow suite: a deployed escrow on ape's anvil, its roles, tokens and parties.

ape's pytest plugin runs every test in its own chain snapshot, so each test starts from the deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import pytest

from offchain.eip712 import (
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    action_digest,
    encode_args,
    fund_consent,
    settlement_digest,
    sign_digest,
    terms_digest,
)

DAY = 86_400
HOUR = 3_600
RESPONSE_WINDOW = 24 * HOUR
REVIEW_PERIOD = 3 * DAY
SERIOUS_DELAY = 48 * HOUR
DELIVERY = 5 * DAY
AMOUNT = 10**18
FEE_BPS = 1_000  # 10%
NATIVE = "0x0000000000000000000000000000000000000000"


@pytest.fixture(scope="session")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def quote_signer(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def arbiter(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def fee_recipient(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def client(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def freelancer(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def outsider(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def escrow(project, admin, quote_signer, arbiter, fee_recipient):
    contract = project.OrderEscrow.deploy(
        admin, fee_recipient, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, sender=admin
    )
    contract.grantRole(contract.QUOTE_SIGNER_ROLE(), quote_signer, sender=admin)
    contract.grantRole(contract.ARBITER_ROLE(), arbiter, sender=admin)
    return contract


@pytest.fixture(scope="session")
def token(project, escrow, admin, client, accounts):
    bep20 = project.MockERC20.deploy("Tether USD", "USDT", sender=admin)
    escrow.setTokenAllowed(bep20, True, sender=admin)
    for holder in accounts[4:8]:
        bep20.mint(holder, 10**24, sender=admin)
        bep20.approve(escrow, 2**256 - 1, sender=holder)
    return bep20


@dataclass
class Market:
    """Builds, signs and funds orders against the deployed escrow."""

    escrow: Any
    chain: Any
    quote_signer: Any
    client: Any
    freelancer: Any
    counter: int = 0

    @property
    def domain(self) -> Domain:
        return Domain(self.chain.chain_id, str(self.escrow.address))

    def now(self) -> int:
        return self.chain.pending_timestamp

    def terms(self, token: Any = NATIVE, **overrides: Any) -> OrderTerms:
        self.counter += 1
        base = OrderTerms(
            orderRef=os.urandom(32),
            client=str(self.client.address),
            freelancer=str(self.freelancer.address),
            token=str(getattr(token, "address", token)),
            amount=AMOUNT,
            feeBps=FEE_BPS,
            deliveryDuration=DELIVERY,
            maxRevisions=2,
            quoteExpiry=self.chain.pending_timestamp + DAY,
        )
        return replace(base, **overrides)

    def quote(self, terms: OrderTerms, signer: Any = None) -> bytes:
        return sign_digest((signer or self.quote_signer).private_key, terms_digest(self.domain, terms))

    def fund(self, terms: OrderTerms | None = None, sender: Any = None, **overrides: Any):
        terms = terms or self.terms(**overrides)
        value = terms.amount if int(terms.token, 16) == 0 else 0
        receipt = self.escrow.fund(terms.as_tuple(), self.quote(terms), value=value, sender=sender or self.client)
        return terms, receipt

    def consent(self, terms: OrderTerms, signer: Any = None) -> bytes:
        return sign_digest((signer or self.client).private_key, action_digest(self.domain, fund_consent(terms)))

    def signed(
        self,
        party: Any,
        action: Action,
        ref: bytes,
        *args: Any,
        nonce: int | None = None,
        deadline: int | None = None,
        signer: Any = None,
        domain: Domain | None = None,
    ):
        """A ``PartyAction`` tuple and its signature, ready for ``executeWithSig``."""
        message = PartyAction(
            party=str(party.address),
            action=action,
            orderRef=ref,
            args=encode_args(action, *args),
            nonce=self.escrow.nonces(party) if nonce is None else nonce,
            deadline=self.chain.pending_timestamp + HOUR if deadline is None else deadline,
        )
        signature = sign_digest((signer or party).private_key, action_digest(domain or self.domain, message))
        return message.as_tuple(), signature

    def settlement(self, ref: bytes, bps: int, signer: Any) -> bytes:
        return sign_digest(signer.private_key, settlement_digest(self.domain, ref, bps))

    def advance_to(self, timestamp: int) -> None:
        """Make the next block's timestamp exactly ``timestamp`` (no sleeping: anvil's clock moves)."""
        self.chain.pending_timestamp = timestamp


@pytest.fixture
def market(escrow, chain, quote_signer, client, freelancer, token):
    return Market(escrow=escrow, chain=chain, quote_signer=quote_signer, client=client, freelancer=freelancer)


def _revert_without_call_trace(self: Any, exception: Exception, revert_message: str | None = None, **kwargs: Any):
    """ape-foundry's revert handler, minus fetching and printing a debug trace of every reverted call.

    The suite asserts hundreds of reverts; a trace costs ~50 ms each and is only noise here. The decoded
    custom error (what the tests assert) is built exactly as ape-foundry builds it.
    """
    from ape.exceptions import ContractLogicError, TransactionError

    if revert_message == "0x" or not revert_message:
        revert_message = TransactionError.DEFAULT_MESSAGE
    revert_message = revert_message.removeprefix("revert: ")
    kwargs.pop("trace", None)
    error = ContractLogicError(base_err=exception, revert_message=revert_message, **kwargs)
    return self.compiler_manager.enrich_error(error)


@pytest.fixture(scope="session", autouse=True)
def _quiet_reverts():
    from ape_foundry.provider import FoundryProvider

    original = FoundryProvider._handle_execution_reverted
    FoundryProvider._handle_execution_reverted = _revert_without_call_trace
    yield
    FoundryProvider._handle_execution_reverted = original
