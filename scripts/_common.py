"""Helpers shared by the ape scripts (a private module: ``ape run`` does not list files starting with ``_``)."""

from __future__ import annotations

from ape import accounts
from ape.api import AccountAPI, ProviderAPI
from ape.exceptions import AccountsError

from offchain.deployment import DeploymentError, env_name

#: AccessControl's DEFAULT_ADMIN_ROLE.
ZERO_ROLE = b"\x00" * 32


def resolve_sender(alias: str | None, *, dev: bool) -> AccountAPI:
    """The account that sends every transaction: an ape alias, ``TEST::<i>``, or test account 0 on local chains."""
    if not alias:
        if dev:
            return accounts.test_accounts[0]
        raise DeploymentError(
            f"no deployer account on a live network: pass --account <alias> or set {env_name('deployer')} "
            "(`ape accounts list` shows the aliases; `ape accounts import <alias>` adds one)"
        )
    if alias.upper().startswith("TEST::"):
        if not dev:
            raise DeploymentError(f"{alias} is a test account; live networks need an ape account alias")
        try:
            return accounts.test_accounts[int(alias.split("::", 1)[1])]
        except (ValueError, IndexError) as exc:
            raise DeploymentError(f"{alias}: no such test account (use TEST::0 .. TEST::9)") from exc
    try:
        return accounts.load(alias)
    except (AccountsError, IndexError, KeyError) as exc:
        raise DeploymentError(f"no ape account with alias {alias!r}: `ape accounts list` shows the aliases") from exc


def has_code(provider: ProviderAPI, address: str) -> bool:
    return len(provider.get_code(address)) > 0


def genesis_hash(provider: ProviderAPI) -> str:
    return "0x" + bytes(provider.get_block(0).hash or b"").hex()


def same_chain(provider: ProviderAPI, record_genesis: str) -> bool:
    """Whether the connected chain is the one a record was made on (records without a genesis hash match)."""
    return not record_genesis or record_genesis == genesis_hash(provider)
