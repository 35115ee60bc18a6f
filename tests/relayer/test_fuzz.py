"""Fuzzed requests against every write endpoint of the OpenAPI schema: never a 5xx, never a job from an
invalid request. Bodies mix valid and invalid values per field (wrong types, lengths, ranges, checksums)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker
from tests.relayer.harness import ApiKeys, RelayerProcess

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
)
hexes = st.one_of(
    st.binary(min_size=0, max_size=70).map(lambda b: "0x" + b.hex()),
    st.text(alphabet="0123456789abcdefABCDEFx", max_size=140),
)
addresses = st.one_of(st.just(ADDRESS), st.just(ADDRESS.lower()), hexes)
uints = st.one_of(st.integers(min_value=-5, max_value=2**257), junk)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, junk)


def body(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: field(v) for k, v in fields.items()})


TERMS = {"orderRef": hexes, "client": addresses, "freelancer": addresses, "token": addresses, "amount": uints,
         "feeBps": uints, "deliveryDuration": uints, "maxRevisions": uints, "quoteExpiry": uints}  # fmt: skip
ENDPOINTS: dict[str, st.SearchStrategy[Any]] = {
    "/v1/quotes": body(TERMS),
    "/v1/actions": body({"party": addresses, "action": st.sampled_from(["CANCEL", "ACCEPT", "FUND", "x"]),
                         "orderRef": hexes, "args": hexes, "nonce": uints, "deadline": uints, "signature": hexes}),
    "/v1/rulings": body({"orderRef": hexes, "freelancerBps": uints}),
    "/v1/settlements": body({"orderRef": hexes, "freelancerBps": uints, "clientSignature": hexes,
                             "freelancerSignature": hexes}),
    "/v1/fundings": body({"terms": body(TERMS), "quoteSignature": hexes, "clientSignature": hexes}),
    "/v1/timeouts": body({"orderRef": hexes, "action": st.sampled_from(["finalize", "startRevision", "accept"])}),
}  # fmt: skip


def test_openapi_lists_every_fuzzed_endpoint(relayer: RelayerProcess) -> None:
    paths = httpx.get(relayer.url + "/openapi.json").json()["paths"]
    assert set(ENDPOINTS) <= {p for p, ops in paths.items() if "post" in ops}


@pytest.fixture(scope="module")
def http(relayer: RelayerProcess, api_keys: ApiKeys) -> httpx.Client:
    return httpx.Client(base_url=relayer.url, headers={"Authorization": f"Bearer {api_keys.admin}"}, timeout=30)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_writes_never_fail_with_5xx_nor_create_a_job(
    http: httpx.Client, db_url: str, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(sorted(ENDPOINTS)))
    payload = data.draw(st.one_of(ENDPOINTS[path], junk))
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), min_size=1, max_size=250)
    key = data.draw(st.one_of(st.none(), header_text))
    headers = {} if key is None else {"Idempotency-Key": (key.strip() or "k").encode("latin-1")}
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        before = sum(store.count_by_state(session).values())
    response = http.post(path, json=payload, headers=headers)
    with make_sessionmaker(engine)() as session:
        after = sum(store.count_by_state(session).values())
    engine.dispose()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert after == before, f"{path} answered {response.status_code} but created a job"
