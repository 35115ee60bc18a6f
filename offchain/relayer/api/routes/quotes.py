"""``/v1/quotes``: the quote signer's EIP-712 signature over a new order's terms."""

from __future__ import annotations

from fastapi import APIRouter

from offchain.eip712 import OrderTerms, terms_digest, typed_data
from offchain.relayer.api.deps import BackendKey, RuntimeDep
from offchain.relayer.api.schemas import OrderTermsBody, QuoteCreate, QuotePublic
from offchain.relayer.exceptions import ApiError, ChainError

router = APIRouter(prefix="/quotes", tags=["quotes"])


@router.post("", response_model=QuotePublic)
def create_quote(body: QuoteCreate, rt: RuntimeDep, _key: BackendKey) -> QuotePublic:
    """Sign the terms; a wallet calls ``fund(terms, signature)`` (or signs consent for ``fundWithSig``) with them.

    Nothing is stored or sent, so no Idempotency-Key is needed: the same terms always give the same signature.
    """
    expiry = body.quoteExpiry
    if expiry is None:
        try:
            now = int(rt.chain.latest_block()["timestamp"], 16)  # the chain's clock is the one `fund` checks
        except ChainError as exc:
            raise ApiError(503, "rpc_unavailable", "the chain is unreachable; send quoteExpiry or retry") from exc
        expiry = now + rt.settings.quote_ttl_seconds
    terms = OrderTerms(
        orderRef=bytes.fromhex(body.orderRef[2:]),
        client=body.client,
        freelancer=body.freelancer,
        token=body.token,
        amount=body.amount,
        feeBps=body.feeBps,
        deliveryDuration=body.deliveryDuration,
        maxRevisions=body.maxRevisions,
        quoteExpiry=expiry,
    )
    digest = terms_digest(rt.domain, terms)
    signature = rt.quote_signer.sign_digest(digest)
    return QuotePublic(
        terms=OrderTermsBody(**{**body.model_dump(), "quoteExpiry": expiry}),
        signature="0x" + signature.hex(),
        typedData=typed_data(rt.domain, "OrderTerms", terms.as_message()),
        digest="0x" + digest.hex(),
    )
