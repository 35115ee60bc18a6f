"""The property suite's fast path to a real anvil: one artifact loader, pre-signed raw transactions, batched reads.

ape is too slow per call for thousands of steps, so the suite talks JSON-RPC itself (keep-alive HTTP, raw
transactions signed with eth-account, one batched request for every read after a step) and uses web3's ABI
knowledge only to encode and decode. Time is deterministic: anvil mines each transaction in its own block one
second after the previous one (``anvil_setBlockTimestampInterval``), or exactly at a time the suite sets.

``TASKESCROW_ESCROW_ARTIFACT=path/to/OrderEscrow.json`` points the suite at another compiled OrderEscrow (a
mutant): a JSON file with ``abi`` and ``bytecode`` (a hex string or ``{"object": ...}``), ape's contract type
(``deploymentBytecode.bytecode``) or a solc standard-JSON output holding an ``OrderEscrow`` contract.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from offchain.eip712 import Domain
from offchain.localchain import DEFAULT_MNEMONIC, LocalChain
from offchain.toolchain import ROOT

ARTIFACT_ENV = "TASKESCROW_ESCROW_ARTIFACT"
BUILD = ROOT / ".build" / "__local__.json"
GAS = 1_500_000


class ArtifactError(RuntimeError):
    """A compiled contract could not be found or read; the message says how to produce it."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes


def _bytecode(value: Any) -> bytes:
    if isinstance(value, dict):
        value = value.get("object") or value.get("bytecode")
    if not isinstance(value, str) or not value:
        raise ArtifactError("the artifact has no deployment bytecode")
    return bytes.fromhex(value.removeprefix("0x"))


def _from_json(data: dict[str, Any], name: str, origin: str) -> Artifact:
    if "contractTypes" in data:  # ape's .build/__local__.json
        data = data["contractTypes"].get(name) or {}
    elif "contracts" in data:  # solc standard-JSON output
        found = [c for unit in data["contracts"].values() for n, c in unit.items() if n == name]
        data = found[0] if found else {}
        if data:
            return Artifact(name, data["abi"], _bytecode(data["evm"]["bytecode"]))
    if "abi" not in data:
        raise ArtifactError(f"{origin} holds no {name} (expected abi + bytecode)")
    code = data.get("bytecode") or data.get("deploymentBytecode") or data.get("evm", {}).get("bytecode")
    return Artifact(name, data["abi"], _bytecode(code))


@cache
def load_artifact(name: str) -> Artifact:
    """The compiled ``name``: OrderEscrow from ``$TASKESCROW_ESCROW_ARTIFACT`` if set, else ``ape compile``'s build.

    Without a build, the contracts are compiled here with the pinned compiler (``offchain.solc``).
    """
    override = os.environ.get(ARTIFACT_ENV)
    if name == "OrderEscrow" and override:
        path = Path(override)
        if not path.exists():
            raise ArtifactError(f"{ARTIFACT_ENV}={override} does not exist")
        return _from_json(json.loads(path.read_text()), name, str(path))
    if BUILD.exists():
        data = json.loads(BUILD.read_text())
        if name in data.get("contractTypes", {}):
            return _from_json(data, name, str(BUILD))
    return _from_json(_compile_contracts(), name, "contracts/")


@cache
def _compile_contracts() -> dict[str, Any]:
    from offchain.solc import compile_standard, standard_input

    sources = {str(p.relative_to(ROOT)): p for p in sorted((ROOT / "contracts").rglob("*.sol"))}
    if not sources:
        raise ArtifactError("no contracts/ to compile: run `ape compile` or set " + ARTIFACT_ENV)
    return compile_standard(standard_input(sources))


def _type(param: dict[str, Any]) -> str:
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + t[len("tuple") :]
    return t


@dataclass(frozen=True)
class Function:
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def data(self, *args: Any) -> bytes:
        return self.selector + encode(list(self.inputs), list(args))


class Abi:
    """Selectors and types of a contract's functions and errors, for fast encoding and decoding."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        self.functions: dict[str, Function] = {}
        self.errors: dict[bytes, tuple[str, tuple[str, ...]]] = {}
        for item in abi:
            if item["type"] not in ("function", "error"):
                continue
            types = tuple(_type(p) for p in item["inputs"])
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            if item["type"] == "function":
                self.functions[item["name"]] = Function(selector, types, tuple(_type(p) for p in item["outputs"]))
            else:
                self.errors[selector] = (item["name"], types)

    def decode_error(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """A revert's custom error as (name, values), addresses checksummed; unknown data as ``("?", (hex,))``."""
        known = self.errors.get(data[:4])
        if known is None:
            return ("?" if data else "EmptyRevert", (data.hex(),) if data else ())
        name, types = known
        return name, tuple(normalize(v) for v in decode(list(types), data[4:]))


def normalize(value: Any) -> Any:
    """Decoded ABI values in the model's shapes: checksummed addresses, tuples, plain ints and bytes."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    return value


class RpcError(RuntimeError):
    """anvil answered a JSON-RPC request with an error."""


class Rpc:
    """A keep-alive JSON-RPC client over one HTTP connection, with batching (no per-call session overhead)."""

    def __init__(self, url: str) -> None:
        self.url = url
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def _post(self, body: Any) -> Any:
        payload = json.dumps(body).encode()
        try:
            self.connection.request("POST", "/", payload, {"Content-Type": "application/json"})
            response = self.connection.getresponse()
        except (http.client.HTTPException, OSError):  # the server closed an idle connection: reconnect once
            self.connection.close()
            self.connection.request("POST", "/", payload, {"Content-Type": "application/json"})
            response = self.connection.getresponse()
        return json.loads(response.read())

    def __call__(self, method: str, *params: Any) -> Any:
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
        answers = sorted(self._post(body), key=lambda a: a["id"])
        for answer in answers:
            if "error" in answer:
                raise RpcError(f"{calls[answer['id']][0]}: {answer['error']}")
        return [a["result"] for a in answers]


@dataclass
class TxResult:
    ok: bool
    timestamp: int
    revert: bytes = b""
    tx_hash: str = ""


@dataclass
class Sender:
    """An account of ours and its next transaction nonce (tracked locally: no round trip per transaction)."""

    account: LocalAccount
    nonce: int = 0

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def key(self) -> bytes:
        return bytes(self.account.key)


def accounts(count: int) -> list[LocalAccount]:
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


ANVIL_ARGS = ("--order", "fifo", "--base-fee", "0", "--gas-price", "0", "--disable-min-priority-fee")


@dataclass
class Node:
    """One anvil with automine, zero gas price (balances move only by value) and one-second blocks."""

    chain: LocalChain = field(default_factory=lambda: LocalChain(accounts=12, extra_args=ANVIL_ARGS))
    rpc: Rpc = field(init=False)
    senders: list[Sender] = field(init=False)
    last_timestamp: int = 0
    #: The time the next block must have, if not last_timestamp + 1.
    pinned: int | None = None

    def start(self) -> Node:
        self.chain.start()
        self.rpc = Rpc(self.chain.url)
        self.senders = [Sender(a) for a in accounts(self.chain.accounts)]
        self.rpc("anvil_setBlockTimestampInterval", 1)
        self.rpc("evm_mine")
        self.last_timestamp = int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        return self

    def stop(self) -> None:
        self.chain.stop()

    @property
    def next_timestamp(self) -> int:
        return self.pinned if self.pinned is not None else self.last_timestamp + 1

    def pin(self, timestamp: int) -> None:
        """Make the next block (transaction or :meth:`mine`) happen exactly at ``timestamp``."""
        if timestamp <= self.last_timestamp:
            raise ValueError(f"time only moves forward: {timestamp} <= {self.last_timestamp}")
        self.pinned = timestamp

    def mine(self) -> int:
        """Mine an empty block at the next timestamp."""
        ts = self.next_timestamp
        self.rpc("evm_mine", ts)
        self.pinned = None
        self.last_timestamp = ts
        return ts

    def sign(self, sender: Sender, to: str | None, data: bytes, value: int = 0, gas: int = GAS) -> str:
        tx: dict[str, Any] = {
            "gas": gas,
            "gasPrice": 0,
            "nonce": sender.nonce,
            "chainId": self.chain.chain_id,
            "data": data,
            "value": value,
        }
        if to is not None:
            tx["to"] = to
        sender.nonce += 1
        return "0x" + bytes(sender.account.sign_transaction(tx).raw_transaction).hex()

    def send(self, sender: Sender, to: str | None, data: bytes, value: int = 0, gas: int = GAS) -> TxResult:
        """Sign, send and mine one transaction; on a revert, fetch the revert data from its trace."""
        raw = self.sign(sender, to, data, value, gas)
        if self.pinned is not None:
            self.rpc("evm_setNextBlockTimestamp", self.pinned)
            self.pinned = None
        receipt = self.rpc("eth_sendRawTransactionSync", raw)  # EIP-7966: mined, and its receipt, in one call
        tx_hash = receipt["transactionHash"]
        ts = receipt["blockTimestamp"]
        ts = int(ts, 16) if isinstance(ts, str) else int(ts)
        self.last_timestamp = ts
        if receipt["status"] == "0x1":
            return TxResult(True, ts, tx_hash=tx_hash)
        trace = self.rpc("debug_traceTransaction", tx_hash, {"tracer": "callTracer"})
        return TxResult(False, ts, bytes.fromhex(trace.get("output", "0x")[2:]), tx_hash)

    def deploy(self, sender: Sender, artifact: Artifact, types: Sequence[str], args: Sequence[Any]) -> str:
        result = self.send(sender, None, artifact.bytecode + encode(list(types), list(args)), gas=12_000_000)
        if not result.ok:
            raise RuntimeError(f"deploying {artifact.name} reverted: 0x{result.revert.hex()}")
        receipt = self.rpc("eth_getTransactionReceipt", result.tx_hash)
        return to_checksum_address(receipt["contractAddress"])

    def snapshot(self) -> tuple[str, int, list[int]]:
        return str(self.rpc("evm_snapshot")), self.last_timestamp, [s.nonce for s in self.senders]

    def revert(self, snap: tuple[str, int, list[int]]) -> None:
        snapshot_id, ts, nonces = snap
        if not self.rpc("evm_revert", snapshot_id):
            raise RpcError(f"evm_revert({snapshot_id}) failed")
        self.last_timestamp, self.pinned = ts, None
        for sender, nonce in zip(self.senders, nonces, strict=True):
            sender.nonce = nonce

    def calls(
        self, reads: Iterable[tuple[str, bytes]], extra: Sequence[tuple[str, Sequence[Any]]] = ()
    ) -> tuple[list[bytes], list[Any]]:
        """eth_call each (to, data) at the latest block, plus ``extra`` requests, in one batch."""
        batch = [("eth_call", ({"to": to, "data": "0x" + data.hex()}, "latest")) for to, data in reads]
        answers = self.rpc.batch([*batch, *extra])
        return [bytes.fromhex(r[2:]) for r in answers[: len(batch)]], answers[len(batch) :]


# ---------------------------------------------------------------------------------------------------------------
# The deployed escrow and its cast
# ---------------------------------------------------------------------------------------------------------------

RESPONSE_WINDOW = 24 * 3600
REVIEW_PERIOD = 3 * 86_400
SERIOUS_DELAY = 48 * 3600
QUOTE_SIGNER_ROLE = keccak(text="QUOTE_SIGNER_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
TOKEN_SUPPLY = 10**30


@dataclass
class Escrow:
    """OrderEscrow and a MockERC20 deployed on a :class:`Node`, with the cast of accounts.

    Accounts: 0 admin, 1 quote signer, 2 arbiter, 3 fee recipient, 4-5 clients, 6-7 freelancers, 8 outsider,
    9 keeper, 10 a spare (raw-rate measurement).
    """

    node: Node
    address: str = ""
    token: str = ""
    abi: Abi = field(init=False)
    token_abi: Abi = field(init=False)

    @property
    def admin(self) -> Sender:
        return self.node.senders[0]

    @property
    def quote_signer(self) -> Sender:
        return self.node.senders[1]

    @property
    def arbiter(self) -> Sender:
        return self.node.senders[2]

    @property
    def fee_recipient(self) -> Sender:
        return self.node.senders[3]

    @property
    def clients(self) -> list[Sender]:
        return self.node.senders[4:6]

    @property
    def freelancers(self) -> list[Sender]:
        return self.node.senders[6:8]

    @property
    def outsider(self) -> Sender:
        return self.node.senders[8]

    @property
    def keeper(self) -> Sender:
        return self.node.senders[9]

    @property
    def spare(self) -> Sender:
        return self.node.senders[10]

    def deploy(self) -> Escrow:
        escrow, mock = load_artifact("OrderEscrow"), load_artifact("MockERC20")
        self.abi, self.token_abi = Abi(escrow.abi), Abi(mock.abi)
        admin = self.admin
        self.address = self.node.deploy(
            admin,
            escrow,
            ["address", "address", "uint64", "uint64", "uint64"],
            [admin.address, self.fee_recipient.address, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY],
        )
        self.token = self.node.deploy(admin, mock, ["string", "string"], ["Tether USD", "USDT"])
        grant = self.abi.functions["grantRole"]
        self._must(admin, self.address, grant.data(QUOTE_SIGNER_ROLE, self.quote_signer.address))
        self._must(admin, self.address, grant.data(ARBITER_ROLE, self.arbiter.address))
        self._must(admin, self.address, self.abi.functions["setTokenAllowed"].data(self.token, True))
        for holder in self.clients:
            self._must(admin, self.token, self.token_abi.functions["mint"].data(holder.address, TOKEN_SUPPLY))
            self._must(holder, self.token, self.token_abi.functions["approve"].data(self.address, 2**256 - 1))
        return self

    def _must(self, sender: Sender, to: str, data: bytes) -> None:
        result = self.node.send(sender, to, data)
        if not result.ok:
            raise RuntimeError(f"set-up call reverted: {self.abi.decode_error(result.revert)}")

    @property
    def domain(self) -> Domain:
        return Domain(self.node.chain.chain_id, self.address)

    def call(self, sender: Sender, fn: str, *args: Any, value: int = 0) -> TxResult:
        return self.node.send(sender, self.address, self.abi.functions[fn].data(*args), value)

    def read_data(self, fn: str, *args: Any) -> tuple[str, bytes]:
        return self.address, self.abi.functions[fn].data(*args)

    def decode(self, fn: str, raw: bytes) -> Any:
        values = decode(list(self.abi.functions[fn].outputs), raw)
        return normalize(values[0] if len(values) == 1 else values)

    def balance_reads(self) -> list[tuple[str, Sequence[Any]]]:
        """The escrow's native and BEP-20 balances, as batch entries."""
        data = self.token_abi.functions["balanceOf"].data(self.address)
        return [
            ("eth_getBalance", (self.address, "latest")),
            ("eth_call", ({"to": self.token, "data": "0x" + data.hex()}, "latest")),
        ]
