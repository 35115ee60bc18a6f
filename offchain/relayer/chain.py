"""The one chain client: JSON-RPC over HTTP to one or several RPC URLs, with retries and backoff.

Every node error is mapped here to a :mod:`~offchain.relayer.exceptions` type (``raise … from exc``);
callers never see an httpx error. :class:`~offchain.relayer.fakechain.FakeChain` implements the same
:class:`Chain` protocol for unit tests.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from offchain.relayer.exceptions import (
    AlreadyKnown,
    ChainError,
    NonceTooLow,
    RpcUnavailable,
    Underpriced,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int


class RpcErrorReply(ChainError):
    """A JSON-RPC error object from the node (code, message, data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code, self.message, self.data = code, message, data


class Chain(Protocol):
    """What the workers and the API need from a chain; :class:`RpcChain` and ``FakeChain`` implement it."""

    def chain_id(self) -> int: ...
    def block_number(self) -> int: ...
    def block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]: ...
    def latest_block(self) -> dict[str, Any]: ...
    def gas_price(self) -> int: ...
    def max_priority_fee(self) -> int: ...
    def nonce(self, address: str, tag: str = "latest") -> int: ...
    def code(self, address: str) -> bytes: ...
    def send_raw_many(self, raws: Sequence[bytes]) -> list[str | ChainError]: ...
    def receipts(self, hashes: Sequence[str]) -> dict[str, Receipt | None]: ...
    def known(self, tx_hash: str) -> bool: ...
    def call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes: ...
    def estimate_gas(self, tx: dict[str, Any]) -> int: ...


def classify_send_error(error: RpcErrorReply) -> ChainError:
    """Map a node's answer to ``eth_sendRawTransaction`` to our error type."""
    text = error.message.lower()
    if "nonce too low" in text or "nonce has already been used" in text or "old nonce" in text:
        return NonceTooLow(error.message)
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return AlreadyKnown(error.message)
    if "underpriced" in text or "fee too low" in text or "less than block base fee" in text:
        return Underpriced(error.message)
    return error


class RpcChain:
    """JSON-RPC over HTTP with keep-alive. On a connection error, timeout or 5xx it backs off and tries the
    next URL; after ``retries`` rounds it raises :class:`RpcUnavailable`. JSON-RPC errors are not retried."""

    def __init__(self, urls: Sequence[str], *, retries: int = 5, timeout: float = 5.0, backoff: float = 0.1) -> None:
        if not urls:
            raise RpcUnavailable("no RPC URL configured: set TASKESCROW_RPC_URLS")
        self.urls = list(urls)
        self.retries, self.backoff = retries, backoff
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._timeout = timeout
        self._preferred = 0
        self._chain_id: int | None = None

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self._timeout, limits=httpx.Limits(max_keepalive_connections=4))
            self._local.client = client
        return client

    def _post(self, payload: Any) -> Any:
        last: Exception | None = None
        for attempt in range(self.retries):
            index = (self._preferred + attempt) % len(self.urls)
            url = self.urls[index]
            try:
                response = self._client().post(url, json=payload)
                if response.status_code >= 500:
                    raise httpx.HTTPStatusError("server error", request=response.request, response=response)
                self._preferred = index
                return response.json()
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
                self._local.client = None
                time.sleep(min(self.backoff * 2**attempt, 2.0))
        detail = f"{type(last).__name__}: {last}"
        raise RpcUnavailable(
            f"no RPC URL answered after {self.retries} tries ({detail}); check TASKESCROW_RPC_URLS"
        ) from last

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if "error" in reply:
            err = reply["error"]
            raise RpcErrorReply(int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; each element is a result or an :class:`RpcErrorReply`."""
        if not calls:
            return []
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
            for i, (method, params) in enumerate(calls)
        ]
        replies = self._post(payload)
        if isinstance(replies, dict):  # a node that refuses batches answers one error
            err = replies.get("error", {})
            raise RpcErrorReply(int(err.get("code", 0)), str(err.get("message", "batch refused")))
        by_id = {reply["id"]: reply for reply in replies}
        out: list[Any] = []
        for i in range(len(calls)):
            reply = by_id.get(i, {"error": {"code": -1, "message": "missing reply"}})
            if "error" in reply:
                err = reply["error"]
                out.append(RpcErrorReply(int(err.get("code", 0)), str(err.get("message", "")), err.get("data")))
            else:
                out.append(reply["result"])
        return out

    # -- the Chain protocol --

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.request("eth_chainId"), 16)
        return self._chain_id

    def block_number(self) -> int:
        return int(self.request("eth_blockNumber"), 16)

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]:
        results = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out: dict[int, str | None] = {}
        for n, result in zip(numbers, results, strict=True):
            if isinstance(result, RpcErrorReply):
                raise result
            out[n] = result["hash"] if result else None
        return out

    def latest_block(self) -> dict[str, Any]:
        return dict(self.request("eth_getBlockByNumber", ["latest", False]))

    def gas_price(self) -> int:
        return int(self.request("eth_gasPrice"), 16)

    def max_priority_fee(self) -> int:
        try:
            return int(self.request("eth_maxPriorityFeePerGas"), 16)
        except RpcErrorReply:
            return 10**9

    def nonce(self, address: str, tag: str = "latest") -> int:
        return int(self.request("eth_getTransactionCount", [address, tag]), 16)

    def code(self, address: str) -> bytes:
        return bytes.fromhex(str(self.request("eth_getCode", [address, "latest"]))[2:])

    def send_raw_many(self, raws: Sequence[bytes]) -> list[str | ChainError]:
        results = self.batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
        return [classify_send_error(r) if isinstance(r, RpcErrorReply) else str(r) for r in results]

    def receipts(self, hashes: Sequence[str]) -> dict[str, Receipt | None]:
        out: dict[str, Receipt | None] = {}
        for start in range(0, len(hashes), 200):
            chunk = hashes[start : start + 200]
            results = self.batch([("eth_getTransactionReceipt", [h]) for h in chunk])
            for tx_hash, result in zip(chunk, results, strict=True):
                if isinstance(result, RpcErrorReply):
                    raise result
                out[tx_hash] = (
                    Receipt(
                        tx_hash=tx_hash,
                        block_number=int(result["blockNumber"], 16),
                        block_hash=result["blockHash"],
                        gas_used=int(result["gasUsed"], 16),
                        status=int(result["status"], 16),
                    )
                    if result and result.get("blockNumber")
                    else None
                )
        return out

    def known(self, tx_hash: str) -> bool:
        return self.request("eth_getTransactionByHash", [tx_hash]) is not None

    def call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        return bytes.fromhex(str(self.request("eth_call", [_rpc_tx(tx), tag]))[2:])

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        # against the latest block, as the API's other checks read it: a node that defaults to "pending" (anvil
        # does) would replay its whole pool first, and under load the estimate then costs more than the mining
        return int(self.request("eth_estimateGas", [_rpc_tx(tx), "latest"]), 16)


def _rpc_tx(tx: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tx.items():
        if isinstance(value, bytes):
            out[key] = "0x" + value.hex()
        elif isinstance(value, int):
            out[key] = hex(value)
        else:
            out[key] = value
    return out


def revert_data(error: RpcErrorReply) -> bytes | None:
    """The revert data of an ``eth_call``/``eth_estimateGas`` error, or None if it was not a revert."""
    data = error.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if "revert" in error.message.lower():
        return b""
    return None
