"""Every endpoint's happy path and every rejection, over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from offchain.client import RelayerClient, RelayerHTTPError
from offchain.eip712 import Action, Status, action_digest, fund_consent, sign_digest, terms_digest
from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker, transaction
from tests.relayer.harness import DAY, ApiKeys, Deployment, RelayerProcess

REF_HEX = "0x" + "11" * 32


def job_count(db_url: str) -> int:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        total = sum(store.count_by_state(session).values())
    engine.dispose()
    return total


def sender_nonce(deployment: Deployment) -> int:
    return deployment.w3.eth.get_transaction_count(deployment.sender.address)


def funded(deployment: Deployment, **overrides: Any) -> bytes:
    terms = deployment.terms(**overrides)
    deployment.fund_orders([terms])
    return terms.orderRef


def delivered(deployment: Deployment, api: RelayerClient) -> bytes:
    ref = funded(deployment)
    for party, action in ((deployment.client, Action.SUBMIT_REQUIREMENTS), (deployment.freelancer, Action.DELIVER)):
        job = api.submit_action(deployment.signed_action(party, action, ref, os.urandom(32)))
        assert api.wait(job.id).state == "confirmed"
    return ref


def disputed(deployment: Deployment, api: RelayerClient) -> bytes:
    ref = delivered(deployment, api)
    job = api.submit_action(deployment.signed_action(deployment.client, Action.OPEN_DISPUTE, ref, os.urandom(32)))
    assert api.wait(job.id).state == "confirmed"
    assert deployment.status(ref) == Status.DISPUTED
    return ref


# -- quotes --


def test_quote_is_signed_by_the_quote_signer_and_funds_an_order(deployment: Deployment, api: RelayerClient) -> None:
    terms = deployment.terms()
    body = {k: v for k, v in terms.as_message().items()}
    quote = api.quote(**body)
    digest = terms_digest(deployment.domain, terms)
    assert quote["digest"] == "0x" + digest.hex()
    assert (
        Account._recover_hash(digest, signature=bytes.fromhex(quote["signature"][2:]))
        == deployment.quote_signer.address
    )
    assert quote["typedData"]["primaryType"] == "OrderTerms"
    assert quote["typedData"]["domain"]["verifyingContract"] == deployment.escrow.address
    call = deployment.escrow.functions.fund(terms.as_tuple(), bytes.fromhex(quote["signature"][2:]))
    deployment.send_many(deployment.client, [call], [terms.amount])
    assert deployment.status(terms.orderRef) == Status.AWAITING_REQUIREMENTS


def test_quote_without_expiry_gets_one_from_the_ttl(deployment: Deployment, api: RelayerClient) -> None:
    body = deployment.terms().as_message()
    del body["quoteExpiry"]
    assert api.quote(**body)["terms"]["quoteExpiry"] > deployment.now()


# -- signed actions --


def test_signed_action_is_confirmed_with_its_attempt_on_record(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    job = api.submit_action(
        deployment.signed_action(deployment.client, Action.SUBMIT_REQUIREMENTS, ref, os.urandom(32))
    )
    assert job.http_status == 202 and job.state == "queued"
    job = api.wait(job.id)
    assert job.state == "confirmed"
    assert deployment.status(ref) == Status.IN_PROGRESS
    (attempt,) = job.attempts
    receipt = deployment.w3.eth.get_transaction_receipt(attempt.hash)
    assert (attempt.block_number, attempt.gas_used, attempt.status) == (receipt.blockNumber, receipt.gasUsed, 1)
    assert attempt.confirmations >= 1 and attempt.block_hash == "0x" + receipt.blockHash.hex()
    assert attempt.priority_fee is not None  # anvil's blocks have a base fee: EIP-1559 pricing


def test_same_idempotency_key_and_body_returns_the_original_job_and_sends_once(
    deployment: Deployment, api: RelayerClient
) -> None:
    ref = funded(deployment)
    body = deployment.signed_action(deployment.client, Action.SUBMIT_REQUIREMENTS, ref, os.urandom(32))
    first = api.wait(api.submit_action(body, idempotency_key=f"once-{ref.hex()}").id)
    before = sender_nonce(deployment)
    again = api.submit_action(body, idempotency_key=f"once-{ref.hex()}")
    assert again.http_status == 200 and again.id == first.id and again.state == "confirmed"
    assert sender_nonce(deployment) == before


def test_same_idempotency_key_with_another_body_is_a_conflict(
    deployment: Deployment, api: RelayerClient, db_url: str
) -> None:
    ref = funded(deployment)
    body = deployment.signed_action(deployment.client, Action.SUBMIT_REQUIREMENTS, ref, os.urandom(32))
    api.submit_action(body, idempotency_key=f"conflict-{ref.hex()}")
    count = job_count(db_url)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action({**body, "args": "0x" + "22" * 32}, idempotency_key=f"conflict-{ref.hex()}")
    assert err.value.status == 409 and err.value.code == "idempotency_conflict"
    assert job_count(db_url) == count


def test_write_without_idempotency_key_is_refused(relayer: RelayerProcess, api_keys: ApiKeys, db_url: str) -> None:
    count = job_count(db_url)
    response = httpx.post(f"{relayer.url}/v1/timeouts", json={"orderRef": REF_HEX, "action": "finalize"},
                          headers={"Authorization": f"Bearer {api_keys.backend}"})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "idempotency_key_required"
    assert job_count(db_url) == count


@pytest.mark.parametrize(
    ("action", "party_name", "error"),
    [
        (Action.DELIVER, "freelancer", "WrongStatus"),  # requirements not submitted yet
        (Action.SUBMIT_REQUIREMENTS, "freelancer", "UnauthorizedCaller"),
    ],
)
def test_doomed_action_is_refused_with_the_decoded_custom_error(
    deployment: Deployment, api: RelayerClient, db_url: str, action: Action, party_name: str, error: str
) -> None:
    ref = funded(deployment)
    party = getattr(deployment, party_name)
    count, nonce = job_count(db_url), sender_nonce(deployment)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action(deployment.signed_action(party, action, ref, os.urandom(32)))
    assert err.value.status == 422 and err.value.code == "would_revert"
    assert err.value.detail["error"] == error
    assert err.value.detail["args"]["ref"] == "0x" + ref.hex()
    assert error in err.value.message
    assert (job_count(db_url), sender_nonce(deployment)) == (count, nonce)


def test_wrong_status_reason_names_the_current_status(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action(deployment.signed_action(deployment.client, Action.ACCEPT, ref))
    assert err.value.detail["args"]["current"] == "AWAITING_REQUIREMENTS"
    assert "AWAITING_REQUIREMENTS" in err.value.message


def test_expired_signature_is_refused_before_simulation(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    body = deployment.signed_action(deployment.client, Action.CANCEL, ref, deadline=deployment.now() - 1)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action(body)
    assert (err.value.status, err.value.code) == (422, "signature_expired")


def test_wrong_party_nonce_is_refused_with_the_expected_one(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    expected = deployment.escrow.functions.nonces(deployment.client.address).call()
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action(deployment.signed_action(deployment.client, Action.CANCEL, ref, nonce=expected + 5))
    assert (err.value.status, err.value.code, err.value.detail["expected"]) == (422, "wrong_nonce", expected)


def test_signature_by_someone_else_is_refused(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    body = deployment.signed_action(deployment.client, Action.CANCEL, ref, signer=deployment.outsider)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action(body)
    assert (err.value.status, err.value.code) == (422, "bad_signature")
    assert deployment.outsider.address in err.value.message


# -- validation --


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"party": "0x" + "ab" * 20}, "party", "checksummed"),
        ({"orderRef": "0x1234"}, "orderRef", "32 bytes"),
        ({"signature": "0xzz"}, "signature", "hex"),
        ({"nonce": -1}, "nonce", "greater than or equal"),
        ({"action": "FUND"}, "action", "Input should be"),
        ({"extra": 1}, "extra", "Extra inputs"),
    ],
)
def test_invalid_body_is_refused_naming_the_field(
    api: RelayerClient, db_url: str, change: dict[str, Any], field: str, fragment: str
) -> None:
    body = {"party": to_checksum_address("0x" + "ab" * 20), "action": "CANCEL", "orderRef": REF_HEX, "args": "0x",
            "nonce": 0, "deadline": 2**40, "signature": "0x" + "00" * 65}  # fmt: skip
    count = job_count(db_url)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_action({**body, **change})
    assert err.value.status == 422
    (problem,) = err.value.detail
    assert problem["loc"][-1] == field and fragment in problem["msg"]
    assert job_count(db_url) == count


def test_quote_fee_above_the_cap_is_refused_naming_fee_bps(deployment: Deployment, api: RelayerClient) -> None:
    body = deployment.terms().as_message()
    with pytest.raises(RelayerHTTPError) as err:
        api.quote(**{**body, "feeBps": 2_001})
    assert err.value.status == 422 and err.value.detail[0]["loc"][-1] == "feeBps"


# -- auth --


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer te_0000000000000000_wrong"])
def test_missing_or_wrong_api_key_gets_401_and_nothing_happens(
    relayer: RelayerProcess, db_url: str, header: str | None
) -> None:
    count = job_count(db_url)
    headers = {"Idempotency-Key": os.urandom(8).hex(), **({"Authorization": header} if header else {})}
    response = httpx.post(f"{relayer.url}/v1/timeouts", json={"orderRef": REF_HEX, "action": "finalize"},
                          headers=headers)  # fmt: skip
    assert response.status_code == 401
    assert httpx.get(f"{relayer.url}/v1/jobs/x", headers=headers).status_code == 401
    assert job_count(db_url) == count


def test_key_without_the_scope_gets_403(relayer: RelayerProcess, api_keys: ApiKeys, db_url: str) -> None:
    count = job_count(db_url)
    with RelayerClient(relayer.url, api_keys.arbiter) as arbiter_only:
        with pytest.raises(RelayerHTTPError) as err:
            arbiter_only.submit_timeout(REF_HEX, "finalize")
        assert err.value.status == 403
    with RelayerClient(relayer.url, api_keys.backend) as backend_only:
        with pytest.raises(RelayerHTTPError) as err:
            backend_only.submit_ruling(REF_HEX, 5_000)
        assert err.value.status == 403
    assert job_count(db_url) == count


def test_revoked_key_gets_401(relayer: RelayerProcess, db_url: str) -> None:
    sessions = make_sessionmaker(make_engine(db_url))
    with transaction(sessions) as session:
        key = store.create_api_key(session, name=f"temp-{os.urandom(4).hex()}", scopes=["backend"])
        name = store.verify_api_key(session, presented=key).name  # type: ignore[union-attr]
    with RelayerClient(relayer.url, key) as client:
        with pytest.raises(RelayerHTTPError) as err:
            client.job("nope")
        assert err.value.status == 404  # authenticated: the job just does not exist
        with transaction(sessions) as session:
            store.update_api_key_active_to_revoked(session, name=name)
        with pytest.raises(RelayerHTTPError) as err:
            client.job("nope")
        assert err.value.status == 401


def test_admin_key_may_do_what_backend_and_arbiter_may(relayer: RelayerProcess, api_keys: ApiKeys) -> None:
    with RelayerClient(relayer.url, api_keys.admin) as admin:
        with pytest.raises(RelayerHTTPError) as err:
            admin.job("nope")
        assert err.value.status == 404


# -- rulings, settlements, fundings, timeouts --


def test_arbiter_ruling_resolves_the_dispute(
    deployment: Deployment, api: RelayerClient, arbiter_api: RelayerClient
) -> None:
    ref = disputed(deployment, api)
    job = arbiter_api.wait(arbiter_api.submit_ruling("0x" + ref.hex(), 3_000).id)
    assert job.state == "confirmed" and job.sender == deployment.arbiter.address
    assert deployment.status(ref) == Status.RESOLVED


def test_ruling_on_an_order_not_in_dispute_is_refused(deployment: Deployment, arbiter_api: RelayerClient) -> None:
    ref = funded(deployment)
    with pytest.raises(RelayerHTTPError) as err:
        arbiter_api.submit_ruling("0x" + ref.hex(), 3_000)
    assert err.value.status == 422 and err.value.detail["error"] == "WrongStatus"


def test_mutual_settlement_resolves_the_dispute(deployment: Deployment, api: RelayerClient) -> None:
    ref = disputed(deployment, api)
    client_sig = deployment.settlement_sig(ref, 6_000, deployment.client)
    freelancer_sig = deployment.settlement_sig(ref, 6_000, deployment.freelancer)
    job = api.wait(api.submit_settlement("0x" + ref.hex(), 6_000, client_sig, freelancer_sig).id)
    assert job.state == "confirmed" and deployment.status(ref) == Status.RESOLVED


def test_settlement_with_a_mismatched_split_is_refused(deployment: Deployment, api: RelayerClient) -> None:
    ref = disputed(deployment, api)
    client_sig = deployment.settlement_sig(ref, 6_000, deployment.client)
    freelancer_sig = deployment.settlement_sig(ref, 5_000, deployment.freelancer)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_settlement("0x" + ref.hex(), 6_000, client_sig, freelancer_sig)
    assert err.value.status == 422 and err.value.code == "would_revert"


def test_funding_by_signature_locks_the_tokens(deployment: Deployment, api: RelayerClient) -> None:
    terms = deployment.terms(token=deployment.token.address)
    quote = api.quote(**terms.as_message())
    consent = sign_digest(deployment.client.key, action_digest(deployment.domain, fund_consent(terms)))
    job = api.wait(api.submit_funding(terms.as_message(), quote["signature"], "0x" + consent.hex()).id)
    assert job.state == "confirmed" and deployment.status(terms.orderRef) == Status.AWAITING_REQUIREMENTS
    assert deployment.token.functions.balanceOf(deployment.escrow.address).call() >= terms.amount


def test_funding_a_native_order_by_signature_is_refused(deployment: Deployment, api: RelayerClient) -> None:
    terms = deployment.terms()
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_funding(terms.as_message(), "0x" + "00" * 65, "0x" + "00" * 65)
    assert (err.value.status, err.value.code) == (422, "native_not_signable")


def test_finalize_timeout_completes_a_delivered_order_once_due(deployment: Deployment, api: RelayerClient) -> None:
    ref = delivered(deployment, api)
    with pytest.raises(RelayerHTTPError) as err:
        api.submit_timeout("0x" + ref.hex(), "finalize")
    assert err.value.detail["error"] == "TooEarly"
    deployment.chain.increase_time(3 * DAY + 1)
    job = api.wait(api.submit_timeout("0x" + ref.hex(), "finalize").id)
    assert job.state == "confirmed" and deployment.status(ref) == Status.COMPLETED


def test_start_revision_timeout_moves_a_silent_freelancer_into_revision(
    deployment: Deployment, api: RelayerClient
) -> None:
    ref = delivered(deployment, api)
    job = api.submit_action(deployment.signed_action(deployment.client, Action.REQUEST_REVISION, ref, os.urandom(32)))
    assert api.wait(job.id).state == "confirmed"
    deployment.chain.increase_time(DAY + 1)
    job = api.wait(api.submit_timeout("0x" + ref.hex(), "startRevision").id)
    assert job.state == "confirmed" and deployment.status(ref) == Status.IN_REVISION


# -- jobs, health --


def test_unknown_job_is_404(api: RelayerClient) -> None:
    with pytest.raises(RelayerHTTPError) as err:
        api.job("does-not-exist")
    assert err.value.status == 404


def test_a_sent_job_cannot_be_cancelled(deployment: Deployment, api: RelayerClient) -> None:
    ref = funded(deployment)
    job = api.wait(api.submit_action(deployment.signed_action(deployment.client, Action.CANCEL, ref)).id)
    with pytest.raises(RelayerHTTPError) as err:
        api.cancel(job.id)
    assert (err.value.status, err.value.code) == (409, "not_cancellable")


def test_health_readiness_metrics_and_openapi_are_served(relayer: RelayerProcess) -> None:
    assert httpx.get(relayer.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(relayer.url + "/readyz").json() == {"database": "ok", "chain": "ok"}
    assert "taskescrow_relayer_jobs" in httpx.get(relayer.url + "/metrics").text
    paths = httpx.get(relayer.url + "/openapi.json").json()["paths"]
    assert {"/v1/quotes", "/v1/actions", "/v1/rulings", "/v1/settlements", "/v1/fundings", "/v1/timeouts",
            "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel"} <= set(paths)  # fmt: skip


def test_no_private_key_appears_in_the_relayer_log(deployment: Deployment, relayer: RelayerProcess) -> None:
    log = relayer.log_tail(100_000).lower()
    for account in (deployment.sender, deployment.quote_signer, deployment.arbiter):
        assert account.key.hex().removeprefix("0x") not in log
