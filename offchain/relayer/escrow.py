"""The escrow as the relayer sees it: calldata for each job kind, reads, and custom-error decoding.

The ABI comes from the compiled artifact (``ape compile`` writes ``.build/__local__.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from offchain.eip712 import Action, Lateness, Status
from offchain.relayer.exceptions import ConfigurationError, Reverted

_ENUMS: dict[str, type[Action] | type[Status] | type[Lateness]] = {
    "IOrderEscrow.Status": Status,
    "IOrderEscrow.Lateness": Lateness,
    "IOrderEscrow.Action": Action,
}


def load_abi(artifact_path: Path, contract: str = "OrderEscrow") -> list[dict[str, Any]]:
    """The ABI of ``contract`` from an ape manifest; a clear error says to run ``ape compile``."""
    try:
        manifest = json.loads(Path(artifact_path).read_text())
        return list(manifest["contractTypes"][contract]["abi"])
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the {contract} ABI from {artifact_path}: run `ape compile` or set TASKESCROW_ARTIFACT_PATH"
        ) from exc


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]
    internal: tuple[str, ...]


class Escrow:
    """Encodes calls to one deployed escrow and decodes its errors."""

    def __init__(self, address: str, abi: list[dict[str, Any]]) -> None:
        self.address = to_checksum_address(address)
        self.abi = abi

    @cached_property
    def errors(self) -> dict[bytes, ErrorSpec]:
        specs: dict[bytes, ErrorSpec] = {
            bytes.fromhex("08c379a0"): ErrorSpec("Error", ("string",), ("message",), ("",)),
            bytes.fromhex("4e487b71"): ErrorSpec("Panic", ("uint256",), ("code",), ("",)),
        }
        for item in self.abi:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(p) for p in item["inputs"])
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            specs[selector] = ErrorSpec(
                item["name"],
                types,
                tuple(p["name"] for p in item["inputs"]),
                tuple(p.get("internalType", "").removeprefix("enum ") for p in item["inputs"]),
            )
        return specs

    @cached_property
    def functions(self) -> dict[str, tuple[bytes, list[str]]]:
        """name -> (selector, argument types); the escrow overloads no function."""
        out: dict[str, tuple[bytes, list[str]]] = {}
        for item in self.abi:
            if item.get("type") == "function":
                types = [_abi_type(p) for p in item["inputs"]]
                out[item["name"]] = (function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})"), types)
        return out

    def encode(self, function: str, *args: Any) -> bytes:
        """Calldata for ``function(*args)`` (structs as tuples, bytes as bytes, addresses as strings)."""
        selector, types = self.functions[function]
        return selector + encode(types, list(args))

    def decode_error(self, data: bytes) -> Reverted:
        """A :class:`Reverted` whose ``error``/``args``/``reason`` say what the custom error in ``data`` means."""
        spec = self.errors.get(data[:4]) if len(data) >= 4 else None
        if spec is None:
            return Reverted(data, None, {}, "reverted without a known error" if data else "reverted without data")
        try:
            values = decode(list(spec.types), data[4:])
        except Exception:  # malformed data: still say which error it claims to be
            return Reverted(data, spec.name, {}, spec.name)
        args: dict[str, Any] = {}
        for name, internal, value in zip(spec.names, spec.internal, values, strict=True):
            enum = _ENUMS.get(internal)
            if enum is not None:
                args[name] = enum(value).name
            elif isinstance(value, bytes):
                args[name] = "0x" + value.hex()
            else:
                args[name] = value
        return Reverted(data, spec.name, args, explain(spec.name, args))


def explain(name: str, args: dict[str, Any]) -> str:
    """A sentence for a custom error; the raw values are in ``args``."""
    ref = str(args.get("ref", ""))[:10]
    sentences = {
        "WrongStatus": lambda: f"order {ref}… is {args.get('current')}, which does not allow this action",
        "UnauthorizedCaller": lambda: f"{args.get('caller')} may not do this on order {ref}…",
        "TooEarly": lambda: f"too early: possible from timestamp {args.get('availableAt')} (now {args.get('now_')})",
        "TooLate": lambda: f"too late: the deadline was timestamp {args.get('deadline')} (now {args.get('now_')})",
        "InvalidNonce": lambda: f"nonce {args.get('given')} is not the party's next nonce {args.get('expected')}",
        "SignatureExpired": lambda: f"the signature expired at {args.get('deadline')} (now {args.get('now_')})",
        "InvalidSignature": lambda: f"the signature is not {args.get('party')}'s",
        "OrderExists": lambda: f"order {ref}… already exists",
        "QuoteExpired": lambda: f"the quote expired at {args.get('expiry')}",
    }
    maker = sentences.get(name)
    if maker is not None:
        return f"{name}: {maker()}"
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return f"{name}({shown})"
