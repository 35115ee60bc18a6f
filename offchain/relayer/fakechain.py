"""An in-memory chain implementing :class:`~offchain.relayer.chain.Chain`, for unit tests of the workers.

Like httpx's ``MockTransport``: no node, no sockets, fully controlled. It keeps per-sender nonces, a mempool
that mines on demand (or at once with ``automine``), receipts, blocks with hashes, reorgs, and switches for
refusing every call (an outage) or reverting a transaction. Everything that touches behaviour is also tested
against real anvil (``tests/relayer``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

from offchain.relayer.chain import Receipt, RpcErrorReply
from offchain.relayer.exceptions import AlreadyKnown, ChainError, NonceTooLow, RpcUnavailable, Underpriced


@dataclass
class FakeTx:
    hash: str
    sender: str
    nonce: int
    price: int
    raw: bytes


def decode_raw(raw: bytes) -> FakeTx:
    sender = Account.recover_transaction(raw)
    if raw[0] < 0x7F:  # typed (EIP-2718) transaction
        fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        nonce, price = int(fields["nonce"]), int(fields["maxFeePerGas"])
    else:
        decoded = rlp.decode(raw)
        nonce, price = int.from_bytes(decoded[0]), int.from_bytes(decoded[1])
    return FakeTx("0x" + keccak(raw).hex(), sender, nonce, price, raw)


@dataclass
class FakeChain:
    id: int = 31337
    automine: bool = True
    base_fee: int = 10**9
    down: bool = False
    #: tx hashes (or "*") whose execution reverts with ``revert_data``
    reverting: set[str] = field(default_factory=set)
    revert_data: bytes = b""
    blocks: list[str] = field(default_factory=lambda: ["0x" + os.urandom(32).hex()])
    nonces: dict[str, int] = field(default_factory=dict)
    mempool: dict[tuple[str, int], FakeTx] = field(default_factory=dict)
    mined: dict[str, tuple[FakeTx, int, int]] = field(default_factory=dict)  # hash -> (tx, block, status)
    sent: list[str] = field(default_factory=list)

    def _check(self) -> None:
        if self.down:
            raise RpcUnavailable("fake chain is down")

    # -- test controls --

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            number = len(self.blocks)
            self.blocks.append("0x" + os.urandom(32).hex())
            progressed = True
            while progressed:
                progressed = False
                for key, tx in sorted(self.mempool.items(), key=lambda kv: kv[0][1]):
                    if tx.nonce == self.nonces.get(tx.sender, 0) and tx.price >= self.base_fee:
                        status = 0 if tx.hash in self.reverting or "*" in self.reverting else 1
                        self.mined[tx.hash] = (tx, number, status)
                        self.nonces[tx.sender] = tx.nonce + 1
                        del self.mempool[key]
                        progressed = True

    def reorg(self, depth: int) -> None:
        """Replace the last ``depth`` blocks with empty ones; their transactions are dropped."""
        first = len(self.blocks) - depth
        for tx_hash, (tx, number, _status) in list(self.mined.items()):
            if number >= first:
                del self.mined[tx_hash]
                self.nonces[tx.sender] = min(self.nonces[tx.sender], tx.nonce)
        self.blocks[first:] = ["0x" + os.urandom(32).hex() for _ in range(depth)]

    def use_nonce(self, sender: str) -> None:
        """Someone else's transaction takes ``sender``'s next nonce."""
        self.nonces[sender] = self.nonces.get(sender, 0) + 1

    # -- the Chain protocol --

    def chain_id(self) -> int:
        self._check()
        return self.id

    def block_number(self) -> int:
        self._check()
        return len(self.blocks) - 1

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, str | None]:
        self._check()
        return {n: self.blocks[n] if n < len(self.blocks) else None for n in numbers}

    def latest_block(self) -> dict[str, Any]:
        self._check()
        return {"number": hex(len(self.blocks) - 1), "baseFeePerGas": hex(self.base_fee), "timestamp": hex(1)}

    def gas_price(self) -> int:
        self._check()
        return self.base_fee

    def max_priority_fee(self) -> int:
        self._check()
        return 10**8

    def nonce(self, address: str, tag: str = "latest") -> int:
        self._check()
        return self.nonces.get(address, 0)

    def code(self, address: str) -> bytes:
        self._check()
        return b""

    def send_raw_many(self, raws: Sequence[bytes]) -> list[str | ChainError]:
        self._check()
        out: list[str | ChainError] = []
        for raw in raws:
            tx = decode_raw(raw)
            self.sent.append(tx.hash)
            if tx.hash in self.mined or self.mempool.get((tx.sender, tx.nonce)) == tx:
                out.append(AlreadyKnown("already known"))
            elif tx.nonce < self.nonces.get(tx.sender, 0):
                out.append(NonceTooLow("nonce too low"))
            elif (old := self.mempool.get((tx.sender, tx.nonce))) is not None and tx.price < old.price * 11 // 10:
                out.append(Underpriced("replacement transaction underpriced"))
            else:
                self.mempool[(tx.sender, tx.nonce)] = tx
                out.append(tx.hash)
        if self.automine:
            self.mine()
        return out

    def receipts(self, hashes: Sequence[str]) -> dict[str, Receipt | None]:
        self._check()
        out: dict[str, Receipt | None] = {}
        for h in hashes:
            found = self.mined.get(h)
            out[h] = None if found is None else Receipt(h, found[1], self.blocks[found[1]], 50_000, found[2])
        return out

    def known(self, tx_hash: str) -> bool:
        self._check()
        return tx_hash in self.mined or any(tx.hash == tx_hash for tx in self.mempool.values())

    def call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes:
        self._check()
        if self.reverting:
            raise RpcErrorReply(3, "execution reverted", "0x" + self.revert_data.hex())
        return b"\x00" * 32

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        self._check()
        return 100_000
