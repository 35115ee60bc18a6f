"""``offchain/eip712.py`` and the contract hash the same way: domain, type hashes, struct hashes and digests,
and what a wallet signs through ``eth_signTypedData_v4`` is what the escrow verifies."""

from __future__ import annotations

from typing import Any

import ape
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.eip712 import (
    ORDER_TERMS_TYPEHASH,
    PARTY_ACTION_TYPEHASH,
    SETTLEMENT_TYPEHASH,
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    Status,
    action_digest,
    fund_consent,
    hash_order_terms,
    settlement_digest,
    terms_digest,
    typed_data,
)

from .conftest import AMOUNT, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

bytes32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))


def uint(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**bits - 1)


order_terms = st.builds(
    OrderTerms,
    orderRef=bytes32,
    client=addresses,
    freelancer=addresses,
    token=addresses,
    amount=uint(256),
    feeBps=uint(16),
    deliveryDuration=uint(32),
    maxRevisions=uint(8),
    quoteExpiry=uint(64),
)
party_actions = st.builds(
    PartyAction,
    party=addresses,
    action=st.sampled_from(list(Action)),
    orderRef=bytes32,
    args=st.binary(max_size=100),
    nonce=uint(256),
    deadline=uint(256),
)


def wallet_digest(domain: Domain, primary_type: str, message: dict[str, Any]) -> bytes:
    """The digest a wallet computes from the typed-data JSON (eth_account's EIP-712 encoder, not ours)."""
    return _hash_eip191_message(encode_typed_data(full_message=typed_data(domain, primary_type, message)))


def test_domain_separator_matches(escrow, market):
    assert bytes(escrow.domainSeparator()) == market.domain.separator()


def test_eip712_domain_fields_are_the_specs(escrow, chain):
    _fields, name, version, chain_id, verifying_contract, _salt, _extensions = escrow.eip712Domain()
    assert (name, version, chain_id, verifying_contract) == ("OrderEscrow", "1", chain.chain_id, escrow.address)


def test_domain_separator_differs_between_deployments(project, escrow, chain, admin, fee_recipient):
    other = project.OrderEscrow.deploy(
        admin, fee_recipient, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, sender=admin
    )
    assert bytes(other.domainSeparator()) == Domain(chain.chain_id, str(other.address)).separator()
    assert bytes(other.domainSeparator()) != bytes(escrow.domainSeparator())


def test_type_hashes_match(escrow):
    assert bytes(escrow.ORDER_TERMS_TYPEHASH()) == ORDER_TERMS_TYPEHASH
    assert bytes(escrow.PARTY_ACTION_TYPEHASH()) == PARTY_ACTION_TYPEHASH
    assert bytes(escrow.SETTLEMENT_TYPEHASH()) == SETTLEMENT_TYPEHASH
    spec_order_terms = (
        "OrderTerms(bytes32 orderRef,address client,address freelancer,address token,uint256 amount,"
        "uint16 feeBps,uint32 deliveryDuration,uint8 maxRevisions,uint64 quoteExpiry)"
    )
    assert bytes(escrow.ORDER_TERMS_TYPEHASH()) == keccak(text=spec_order_terms)
    assert bytes(escrow.SETTLEMENT_TYPEHASH()) == keccak(text="Settlement(bytes32 orderRef,uint16 freelancerBps)")


@FUZZ
@given(terms=order_terms)
def test_hash_order_terms_matches(escrow, terms: OrderTerms):
    assert bytes(escrow.hashOrderTerms(terms.as_tuple())) == hash_order_terms(terms)


@FUZZ
@given(action=party_actions)
def test_hash_party_action_matches(escrow, market, action: PartyAction):
    assert bytes(escrow.hashPartyAction(action.as_tuple())) == action_digest(market.domain, action)


@FUZZ
@given(ref=bytes32, bps=uint(16))
def test_hash_settlement_matches(escrow, market, ref: bytes, bps: int):
    assert bytes(escrow.hashSettlement(ref, bps)) == settlement_digest(market.domain, ref, bps)


def test_wallet_typed_data_digests_equal_ours(market):
    terms = market.terms()
    action = PartyAction(market.client.address, Action.REVIEW, terms.orderRef, b"\x01" * 64, 3, 10**12)
    domain = market.domain

    assert wallet_digest(domain, "OrderTerms", terms.as_message()) == terms_digest(domain, terms)
    assert wallet_digest(domain, "PartyAction", action.as_message()) == action_digest(domain, action)
    settlement = {"orderRef": "0x" + terms.orderRef.hex(), "freelancerBps": 1234}
    assert wallet_digest(domain, "Settlement", settlement) == settlement_digest(domain, terms.orderRef, 1234)


def test_quote_signed_as_typed_data_by_a_wallet_funds_an_order(market, escrow, client, quote_signer):
    terms = market.terms()
    signed = Account.sign_typed_data(
        quote_signer.private_key, full_message=typed_data(market.domain, "OrderTerms", terms.as_message())
    )
    escrow.fund(terms.as_tuple(), bytes(signed.signature), value=AMOUNT, sender=client)
    assert escrow.getOrder(terms.orderRef).status == Status.AWAITING_REQUIREMENTS


def test_fund_consent_signed_as_typed_data_by_a_wallet_funds_an_order(market, escrow, token, client, keeper):
    terms = market.terms(token=token)
    consent = fund_consent(terms)
    assert consent.args == hash_order_terms(terms)  # abi.encode(bytes32) is the hash itself
    signed = Account.sign_typed_data(
        client.private_key, full_message=typed_data(market.domain, "PartyAction", consent.as_message())
    )
    escrow.fundWithSig(terms.as_tuple(), market.quote(terms), bytes(signed.signature), sender=keeper)
    assert escrow.getOrder(terms.orderRef).status == Status.AWAITING_REQUIREMENTS


def test_action_id_beyond_the_enum_does_not_decode(escrow, market):
    assert max(Action) == Action.FUND == 20
    with ape.reverts():
        escrow.hashPartyAction((market.client.address, 21, bytes(32), b"", 0, 0))
