"""What a deployment of OrderEscrow is made of, where its record lives, and how settings are read.

Used by ``scripts/deploy.py`` and ``scripts/roles.py`` (``ape run deploy|roles``), and by anything that needs
the address of the escrow on a chain (the relayer, the demo)::

    record = load_record(97)            # deployments/97.json, or None
    record.address, record.block_number

Settings come, in increasing precedence, from the built-in defaults, a config file (TOML or JSON, given with
``--config`` or ``TASKESCROW_DEPLOY_CONFIG``) and the environment:

==================================  ============================================================================
``TASKESCROW_DEPLOY_CONFIG``        path of a ``.toml`` / ``.json`` config file (same keys as below, lower case)
``TASKESCROW_ADMIN``                the admin (platform multisig); defaults to the deployer on local chains only
``TASKESCROW_FEE_RECIPIENT``        receives platform fees; defaults to the admin on local chains only
``TASKESCROW_RESPONSE_WINDOW``      seconds or a duration (``24h``); default 24 h
``TASKESCROW_REVIEW_PERIOD``        default 3 days (``3d``)
``TASKESCROW_SERIOUS_DELAY``        default 48 h
``TASKESCROW_QUOTE_SIGNERS``        comma-separated addresses granted QUOTE_SIGNER_ROLE
``TASKESCROW_ARBITERS``             comma-separated addresses granted ARBITER_ROLE
``TASKESCROW_TOKENS``               comma-separated BEP-20 addresses to allow-list
``TASKESCROW_DEPLOYER``             ape account alias that sends the transactions (``TEST::<i>`` for a test account)
``TASKESCROW_CONFIRMATIONS``        confirmations to wait for on live networks (default: the network's)
``TASKESCROW_FORCE_REDEPLOY``       ``1`` to deploy again over a live recorded deployment (``--force``)
``TASKESCROW_MOCK_TOKEN``           ``1`` to deploy and allow-list a MockERC20 (local chains only)
``TASKESCROW_DEPLOYMENTS_DIR``      where ``<chainId>.json`` records live (default ``deployments/``)
==================================  ============================================================================
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from offchain.toolchain import ROOT

ENV_PREFIX = "TASKESCROW_"
DEPLOYMENTS_DIR_ENV = "TASKESCROW_DEPLOYMENTS_DIR"
CONFIG_ENV = "TASKESCROW_DEPLOY_CONFIG"
DEFAULT_DEPLOYMENTS_DIR = ROOT / "deployments"

HOUR = 3_600
DAY = 86_400
DEFAULT_RESPONSE_WINDOW = 24 * HOUR
DEFAULT_REVIEW_PERIOD = 3 * DAY
DEFAULT_SERIOUS_DELAY = 48 * HOUR
#: The contract's own bound on each timing (``InvalidTiming``): 1 second to 365 days.
MAX_TIMING = 365 * DAY

#: Role names as the contract spells them; DEFAULT_ADMIN_ROLE is bytes32(0).
ROLE_NAMES = ("DEFAULT_ADMIN_ROLE", "QUOTE_SIGNER_ROLE", "ARBITER_ROLE")
ROLE_ALIASES = {
    "admin": "DEFAULT_ADMIN_ROLE",
    "default_admin": "DEFAULT_ADMIN_ROLE",
    "quote_signer": "QUOTE_SIGNER_ROLE",
    "quote-signer": "QUOTE_SIGNER_ROLE",
    "signer": "QUOTE_SIGNER_ROLE",
    "arbiter": "ARBITER_ROLE",
}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class DeploymentError(RuntimeError):
    """A deployment setting or record is wrong; the message names what, where it came from, and the fix."""


# ==== SETTINGS ====


@dataclass(frozen=True)
class DeploySettings:
    """Everything ``ape run deploy`` needs besides the network; addresses are checksummed, timings in seconds."""

    admin: str | None = None
    fee_recipient: str | None = None
    response_window: int = DEFAULT_RESPONSE_WINDOW
    review_period: int = DEFAULT_REVIEW_PERIOD
    serious_delay: int = DEFAULT_SERIOUS_DELAY
    quote_signers: tuple[str, ...] = ()
    arbiters: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    deployer: str | None = None
    confirmations: int | None = None
    force: bool = False
    mock_token: bool = False
    #: Where each value came from (``default``, the config file's path, or the environment variable's name).
    sources: dict[str, str] = field(default_factory=dict, compare=False)


_KEYS = (
    "admin",
    "fee_recipient",
    "response_window",
    "review_period",
    "serious_delay",
    "quote_signers",
    "arbiters",
    "tokens",
    "deployer",
    "confirmations",
    "force",
    "mock_token",
)
_ENV_NAMES = {key: ENV_PREFIX + key.upper() for key in _KEYS} | {"force": "TASKESCROW_FORCE_REDEPLOY"}


def env_name(key: str) -> str:
    """The environment variable that sets ``key`` (e.g. ``TASKESCROW_FEE_RECIPIENT``)."""
    return _ENV_NAMES[key]


def parse_duration(value: object, *, what: str) -> int:
    """Seconds from an int or a string like ``86400``, ``90m``, ``24h``, ``3d``, ``1w``; bounded like the contract."""
    if isinstance(value, bool):
        raise DeploymentError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise DeploymentError(f"{what}: {value!r} is not a duration (use seconds, or e.g. 90m, 24h, 3d, 1w)")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TIMING:
        raise DeploymentError(f"{what}: {seconds} s is outside the contract's bounds (1 s to 365 days)")
    return seconds


def parse_address(value: object, *, what: str) -> str:
    text = str(value).strip()
    if not is_address(text):
        raise DeploymentError(f"{what}: {value!r} is not an address (expected 0x followed by 40 hex digits)")
    address = to_checksum_address(text)
    if int(address, 16) == 0:
        raise DeploymentError(f"{what}: the zero address is not allowed")
    return address


def parse_addresses(value: object, *, what: str) -> tuple[str, ...]:
    items = [v for v in value.split(",")] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    addresses = [parse_address(v, what=f"{what}, item {i + 1}") for i, v in enumerate(items) if str(v).strip()]
    return tuple(dict.fromkeys(addresses))  # keep the order, drop repeats


def parse_flag(value: object, *, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DeploymentError(f"{what}: {value!r} is not a yes/no value (use 1 or 0)")


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings table of a ``.toml`` or ``.json`` file (a ``[deploy]`` table in TOML is also accepted)."""
    if not path.is_file():
        raise DeploymentError(f"config file {path} does not exist")
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(path.read_text())
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise DeploymentError(f"config file {path}: use a .toml or .json file")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise DeploymentError(f"config file {path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("deploy"), dict):
        data = data["deploy"]
    if not isinstance(data, dict):
        raise DeploymentError(f"config file {path}: expected a table of settings at the top level")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise DeploymentError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    return data


def load_settings(config_path: Path | None = None, environ: Mapping[str, str] | None = None) -> DeploySettings:
    """Defaults, then the config file, then ``TASKESCROW_*`` environment variables; every value validated."""
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[object, str]] = {}
    path = config_path or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if path is not None:
        for key, value in read_config_file(path).items():
            raw[key] = (value, str(path))
    for key in _KEYS:
        name = env_name(key)
        if environ.get(name, "").strip():
            raw[key] = (environ[name], name)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (value, source) in raw.items():
        what = f"{key} (from {source})"
        if key in ("admin", "fee_recipient"):
            values[key] = parse_address(value, what=what)
        elif key in ("response_window", "review_period", "serious_delay"):
            values[key] = parse_duration(value, what=what)
        elif key in ("quote_signers", "arbiters", "tokens"):
            values[key] = parse_addresses(value, what=what)
        elif key in ("force", "mock_token"):
            values[key] = parse_flag(value, what=what)
        elif key == "confirmations":
            try:
                values[key] = int(str(value))
            except ValueError:
                raise DeploymentError(f"{what}: {value!r} is not a whole number") from None
            if values[key] < 0:
                raise DeploymentError(f"{what}: must be 0 or more")
        else:
            values[key] = str(value).strip()
        sources[key] = source
    return DeploySettings(**values, sources=sources)


# ==== RECORDS ====


@dataclass
class DeploymentRecord:
    """``deployments/<chainId>.json``: one OrderEscrow deployment per chain, kept current by the scripts."""

    chain_id: int
    network: str
    contract: str
    address: str
    block_number: int
    block_timestamp: int
    tx_hash: str
    deployer: str
    constructor_args: dict[str, Any]
    admin: str
    fee_recipient: str
    roles: dict[str, list[str]]
    tokens: list[str]
    paused: bool
    compiler: dict[str, Any]
    runtime_code_hash: str
    mock_token: str | None = None
    confirmations: int = 0
    #: Hash of the chain's block 0: tells BSC testnet from a local anvil that also runs with chain id 97.
    genesis_hash: str = ""
    #: Earlier deployments on this chain that ``--force`` replaced (address, block, tx hash).
    previous: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentRecord:
        return cls(**data)


def deployments_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$TASKESCROW_DEPLOYMENTS_DIR`` if set (tests and demos use a temporary one), else ``deployments/``."""
    environ = os.environ if environ is None else environ
    value = environ.get(DEPLOYMENTS_DIR_ENV, "").strip()
    return Path(value) if value else DEFAULT_DEPLOYMENTS_DIR


def record_path(chain_id: int, directory: Path | None = None) -> Path:
    return (directory or deployments_dir()) / f"{chain_id}.json"


def load_record(chain_id: int, directory: Path | None = None) -> DeploymentRecord | None:
    """The recorded deployment on ``chain_id``, or None if there is none."""
    path = record_path(chain_id, directory)
    if not path.is_file():
        return None
    try:
        return DeploymentRecord.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise DeploymentError(f"{path} is not a deployment record ({exc}); move it away or fix it") from exc


def save_record(record: DeploymentRecord, directory: Path | None = None) -> Path:
    """Write the record atomically (a half-written record would look like no deployment)."""
    path = record_path(record.chain_id, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(record.to_json())
    tmp.replace(path)
    return path


def compiler_settings(compilers: list[dict[str, Any]], contract: str) -> dict[str, Any]:
    """The compiler entry of an ape manifest that built ``contract``: name, version, evmVersion, optimizer."""
    for entry in compilers:
        if contract in (entry.get("contractTypes") or []):
            settings = entry.get("settings") or {}
            return {
                "name": entry.get("name"),
                "version": entry.get("version"),
                "evm_version": settings.get("evmVersion"),
                "optimizer": settings.get("optimizer"),
                "via_ir": settings.get("viaIR", False),
                "remappings": settings.get("remappings", []),
            }
    raise DeploymentError(f"no compiler in the build manifest built {contract}: run `ape compile`")


def role_name(text: str) -> str:
    """``QUOTE_SIGNER_ROLE`` from ``quote-signer``, ``quote_signer``, ``QUOTE_SIGNER_ROLE``, ``arbiter``, ``admin``…"""
    key = text.strip()
    if key.upper() in ROLE_NAMES:
        return key.upper()
    if key.lower() in ROLE_ALIASES:
        return ROLE_ALIASES[key.lower()]
    raise DeploymentError(
        f"unknown role {text!r}; use one of: admin, quote-signer, arbiter (or {', '.join(ROLE_NAMES)})"
    )
