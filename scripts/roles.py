"""Administer the recorded OrderEscrow deployment of the connected chain, and keep its record current.

    ape run roles show --network ethereum:local:foundry
    ape run roles grant quote-signer 0x… --network bsc:testnet:node --account admin
    ape run roles revoke arbiter 0x…
    ape run roles allow-token 0x…      /  disallow-token 0x…
    ape run roles set-fee-recipient 0x…
    ape run roles pause                /  unpause

The escrow is the one in ``$TASKESCROW_DEPLOYMENTS_DIR/<chainId>.json`` (default ``deployments/``, written by
``ape run deploy``). The sender (``--account`` alias, ``TASKESCROW_DEPLOYER``, or test account 0 on local
chains) must hold DEFAULT_ADMIN_ROLE; every change is read back from the chain into the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from ape import project
from ape.api import AccountAPI, ProviderAPI
from ape.cli import ConnectedProviderCommand
from ape.contracts import ContractInstance

from offchain.deployment import (
    DeploymentError,
    DeploymentRecord,
    deployments_dir,
    env_name,
    load_record,
    parse_address,
    record_path,
    role_name,
    save_record,
)
from scripts._common import ZERO_ROLE, has_code, resolve_sender, same_chain


def open_deployment(provider: ProviderAPI) -> tuple[DeploymentRecord, ContractInstance]:
    """The recorded escrow of the connected chain; it must still have code there."""
    chain_id = provider.chain_id
    record = load_record(chain_id)
    if record is None:
        raise DeploymentError(
            f"no deployment recorded for chain {chain_id} in {deployments_dir()}: run `ape run deploy` first "
            f"(or point TASKESCROW_DEPLOYMENTS_DIR at the right folder)"
        )
    if not same_chain(provider, record.genesis_hash):
        raise DeploymentError(
            f"{record_path(chain_id)} records a deployment on another chain with id {chain_id} ({record.network}, "
            f"genesis {record.genesis_hash}): point TASKESCROW_DEPLOYMENTS_DIR at this chain's records"
        )
    if not has_code(provider, record.address):
        raise DeploymentError(
            f"{record_path(chain_id)} names {record.address}, which has no code on chain {chain_id} "
            "(a restarted local chain?): deploy again"
        )
    return record, project.OrderEscrow.at(record.address)


def role_id(escrow: ContractInstance, name: str) -> bytes:
    return ZERO_ROLE if name == "DEFAULT_ADMIN_ROLE" else bytes(getattr(escrow, name)())


def admin_sender(provider: ProviderAPI, escrow: ContractInstance, account: str | None) -> AccountAPI:
    sender = resolve_sender(account, dev=provider.network.is_dev)
    if not escrow.hasRole(ZERO_ROLE, sender.address):
        raise DeploymentError(
            f"{sender.address} does not hold DEFAULT_ADMIN_ROLE on {escrow.address}: pass the admin's alias with "
            f"--account (or {env_name('deployer')})"
        )
    return sender


def refresh(record: DeploymentRecord, escrow: ContractInstance, extra_accounts: dict[str, list[str]]) -> None:
    """Re-read roles (of the accounts the record knows, plus any just touched), tokens, fee recipient and pause."""
    for name, accounts in extra_accounts.items():
        known = record.roles.setdefault(name, [])
        known.extend(a for a in accounts if a not in known)
    for name, accounts in record.roles.items():
        rid = role_id(escrow, name)
        record.roles[name] = [a for a in accounts if escrow.hasRole(rid, a)]
    record.tokens = [t for t in record.tokens if escrow.allowedTokens(t)]
    record.fee_recipient = str(escrow.feeRecipient())
    record.paused = bool(escrow.paused())
    admins = record.roles.get("DEFAULT_ADMIN_ROLE", [])
    if record.admin not in admins and admins:
        record.admin = admins[0]


def run_admin(
    provider: ProviderAPI,
    account: str | None,
    change: Callable[[DeploymentRecord, ContractInstance, dict[str, Any]], dict[str, list[str]]],
) -> None:
    try:
        record, escrow = open_deployment(provider)
        sender = admin_sender(provider, escrow, account)
        tx: dict[str, Any] = {"sender": sender}
        touched = change(record, escrow, tx)
        refresh(record, escrow, touched)
        path = save_record(record)
        click.echo(f"recorded in {path}")
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from exc


def address_arg(value: str, what: str) -> str:
    try:
        return parse_address(value, what=what)
    except DeploymentError as exc:
        raise click.BadParameter(str(exc)) from exc


account_option = click.option(
    "--account", default=None, help="ape alias of an admin, or TEST::<i> on local chains (TASKESCROW_DEPLOYER)."
)


@click.group(short_help="Grant/revoke roles, allow tokens, set the fee recipient, pause the recorded escrow")
def cli() -> None:
    """Administer the recorded OrderEscrow deployment of a chain."""


@cli.command(cls=ConnectedProviderCommand)
def show(provider: ProviderAPI) -> None:
    """Print the recorded deployment as the chain sees it now."""
    try:
        record, escrow = open_deployment(provider)
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from exc
    refresh(record, escrow, {})
    click.echo(record.to_json(), nl=False)


def _role_change(grant: bool) -> Callable[..., None]:
    def command(provider: ProviderAPI, role: str, account_address: str, account: str | None) -> None:
        try:
            name = role_name(role)
        except DeploymentError as exc:
            raise click.BadParameter(str(exc), param_hint="ROLE") from exc
        target = address_arg(account_address, "ACCOUNT")

        def change(record: DeploymentRecord, escrow: ContractInstance, tx: dict[str, Any]) -> dict[str, list[str]]:
            method = escrow.grantRole if grant else escrow.revokeRole
            method(role_id(escrow, name), target, **tx)
            click.echo(f"{'granted' if grant else 'revoked'} {name} {'to' if grant else 'from'} {target}")
            return {name: [target]}

        run_admin(provider, account, change)

    return command


for _verb, _grant in (("grant", True), ("revoke", False)):
    cli.command(name=_verb, cls=ConnectedProviderCommand, help=f"{_verb.title()} ROLE (admin, quote-signer, arbiter).")(
        click.argument("role")(
            click.argument("account_address", metavar="ACCOUNT")(account_option(_role_change(_grant)))
        )
    )


def _token_change(allowed: bool) -> Callable[..., None]:
    def command(provider: ProviderAPI, token: str, account: str | None) -> None:
        address = address_arg(token, "TOKEN")

        def change(record: DeploymentRecord, escrow: ContractInstance, tx: dict[str, Any]) -> dict[str, list[str]]:
            if allowed and not has_code(provider, address):
                raise DeploymentError(f"token {address} has no code on chain {provider.chain_id}")
            escrow.setTokenAllowed(address, allowed, **tx)
            if allowed and address not in record.tokens:
                record.tokens.append(address)
            click.echo(f"{'allowed' if allowed else 'disallowed'} token {address}")
            return {}

        run_admin(provider, account, change)

    return command


for _verb, _allowed in (("allow-token", True), ("disallow-token", False)):
    cli.command(name=_verb, cls=ConnectedProviderCommand, help=f"{'Allow' if _allowed else 'Disallow'} a BEP-20.")(
        click.argument("token")(account_option(_token_change(_allowed)))
    )


@cli.command(name="set-fee-recipient", cls=ConnectedProviderCommand)
@click.argument("recipient")
@account_option
def set_fee_recipient(provider: ProviderAPI, recipient: str, account: str | None) -> None:
    """Credit future platform fees to RECIPIENT (fees already credited stay where they are)."""
    address = address_arg(recipient, "RECIPIENT")

    def change(record: DeploymentRecord, escrow: ContractInstance, tx: dict[str, Any]) -> dict[str, list[str]]:
        escrow.setFeeRecipient(address, **tx)
        click.echo(f"fee recipient is now {address}")
        return {}

    run_admin(provider, account, change)


def _pause_change(pause: bool) -> Callable[..., None]:
    def command(provider: ProviderAPI, account: str | None) -> None:
        def change(record: DeploymentRecord, escrow: ContractInstance, tx: dict[str, Any]) -> dict[str, list[str]]:
            if bool(escrow.paused()) == pause:
                click.echo(f"already {'paused' if pause else 'unpaused'}; nothing sent")
                return {}
            (escrow.pause if pause else escrow.unpause)(**tx)
            click.echo("paused: new orders are refused; every exit keeps working" if pause else "unpaused")
            return {}

        run_admin(provider, account, change)

    return command


for _verb, _pause in (("pause", True), ("unpause", False)):
    cli.command(name=_verb, cls=ConnectedProviderCommand, help=f"{_verb.title()} new orders (fund, fundWithSig).")(
        account_option(_pause_change(_pause))
    )
