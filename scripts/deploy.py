"""Deploy OrderEscrow, configure its roles and tokens, and record the deployment.

    ape run deploy --network ethereum:local:foundry [--mock-token]
    ape run deploy --network bsc:testnet:node --config deploy.toml --account deployer

Settings (admin, fee recipient, the three timings, quote signers, arbiters, tokens) come from ``--config``
(TOML or JSON) and ``TASKESCROW_*`` environment variables; the names and precedence are in
``offchain/deployment.py``. The record goes to ``$TASKESCROW_DEPLOYMENTS_DIR/<chainId>.json`` (default
``deployments/``). A chain whose recorded escrow still has code is not deployed to again without ``--force``.

To deploy to an anvil that is already running (e.g. with chain id 97, mimicking BSC testnet), point
ape-foundry at it: ``APE_FOUNDRY_HOST=http://127.0.0.1:8545 ape run deploy --network ethereum:local:foundry``.

When the admin is not the deployer (a multisig), the escrow is deployed with the deployer as admin, configured,
and then handed over: the admin is granted DEFAULT_ADMIN_ROLE and the deployer renounces it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from ape import project
from ape.api import AccountAPI, ProviderAPI
from ape.cli import ConnectedProviderCommand
from eth_utils import keccak

from offchain.deployment import (
    DEPLOYMENTS_DIR_ENV,
    DeploymentError,
    DeploymentRecord,
    DeploySettings,
    compiler_settings,
    deployments_dir,
    env_name,
    load_record,
    load_settings,
    record_path,
    save_record,
)
from scripts._common import ZERO_ROLE, genesis_hash, has_code, resolve_sender, same_chain

CONTRACT = "OrderEscrow"


def check_existing(provider: ProviderAPI, chain_id: int, directory: Path, *, force: bool) -> DeploymentRecord | None:
    """Refuse to deploy over a recorded escrow that still has code, unless forced; return the old record."""
    existing = load_record(chain_id, directory)
    if existing is None:
        return None
    if not same_chain(provider, existing.genesis_hash):
        # e.g. a local anvil with chain id 97 and a record of the real BSC testnet: never overwrite by accident.
        if not force:
            raise DeploymentError(
                f"{record_path(chain_id, directory)} records a deployment on another chain with id {chain_id} "
                f"({existing.network}, genesis {existing.genesis_hash}); point {DEPLOYMENTS_DIR_ENV} at another "
                f"folder for this chain, or pass --force to replace the record"
            )
        click.echo(f"--force: replacing the record of another chain with id {chain_id}")
        return existing
    if has_code(provider, existing.address):
        if not force:
            raise DeploymentError(
                f"chain {chain_id} already has OrderEscrow at {existing.address} (block {existing.block_number}, "
                f"recorded in {record_path(chain_id, directory)}); pass --force or set "
                f"{env_name('force')}=1 to deploy a new one"
            )
        click.echo(f"--force: replacing the recorded deployment at {existing.address}")
    else:
        click.echo(f"the recorded deployment at {existing.address} has no code on chain {chain_id}; deploying anew")
    return existing


def plan(settings: DeploySettings, sender: AccountAPI, *, dev: bool) -> tuple[str, str]:
    """The admin and the fee recipient; on live networks both must be given explicitly."""
    admin = settings.admin
    if admin is None:
        if not dev:
            raise DeploymentError(f"no admin: set `admin` in the config file or {env_name('admin')}")
        admin = str(sender.address)
    fee_recipient = settings.fee_recipient
    if fee_recipient is None:
        if not dev:
            raise DeploymentError(
                f"no fee recipient: set `fee_recipient` in the config file or {env_name('fee_recipient')}"
            )
        fee_recipient = admin
    return admin, fee_recipient


def deploy(
    provider: ProviderAPI, settings: DeploySettings, *, network_choice: str, directory: Path
) -> DeploymentRecord:
    network = provider.network
    dev = network.is_dev
    if settings.mock_token and not dev:
        raise DeploymentError("--mock-token deploys a test token and is for local chains only")
    chain_id = provider.chain_id
    sender = resolve_sender(settings.deployer, dev=dev)
    admin, fee_recipient = plan(settings, sender, dev=dev)
    existing = check_existing(provider, chain_id, directory, force=settings.force)
    for token in settings.tokens:
        if not has_code(provider, token):
            raise DeploymentError(f"token {token} has no code on chain {chain_id}: is it the right address/network?")

    confirmations = (
        0 if dev else (network.required_confirmations if settings.confirmations is None else settings.confirmations)
    )
    tx: dict[str, Any] = {"sender": sender}
    if not dev:
        tx["required_confirmations"] = confirmations

    handover = admin != str(sender.address)
    timings = (settings.response_window, settings.review_period, settings.serious_delay)
    constructor_admin = str(sender.address) if handover else admin
    click.echo(f"deploying {CONTRACT} on chain {chain_id} ({network_choice}) from {sender.address}")
    escrow = project.OrderEscrow.deploy(constructor_admin, fee_recipient, *timings, **tx)
    creation = escrow.creation_metadata
    if creation is None or creation.txn_hash is None:
        raise DeploymentError(f"{CONTRACT} deployed at {escrow.address} but ape returned no creation transaction")
    receipt = provider.get_receipt(creation.txn_hash)

    tokens = list(settings.tokens)
    mock_token = None
    if settings.mock_token:
        mock = project.MockERC20.deploy("Tether USD", "USDT", **tx)
        mock_token = str(mock.address)
        tokens.append(mock_token)
        click.echo(f"MockERC20 (USDT) at {mock_token}")

    quote_signer_role = escrow.QUOTE_SIGNER_ROLE()
    arbiter_role = escrow.ARBITER_ROLE()
    for account in settings.quote_signers:
        escrow.grantRole(quote_signer_role, account, **tx)
    for account in settings.arbiters:
        escrow.grantRole(arbiter_role, account, **tx)
    for token in tokens:
        escrow.setTokenAllowed(token, True, **tx)
    if handover:
        escrow.grantRole(ZERO_ROLE, admin, **tx)
        escrow.renounceRole(ZERO_ROLE, sender.address, **tx)
        click.echo(f"admin handed over to {admin}; the deployer renounced DEFAULT_ADMIN_ROLE")

    # Record what the chain says, not what we meant to do.
    roles = {
        "DEFAULT_ADMIN_ROLE": [a for a in (admin, str(sender.address)) if escrow.hasRole(ZERO_ROLE, a)],
        "QUOTE_SIGNER_ROLE": [a for a in settings.quote_signers if escrow.hasRole(quote_signer_role, a)],
        "ARBITER_ROLE": [a for a in settings.arbiters if escrow.hasRole(arbiter_role, a)],
    }
    roles["DEFAULT_ADMIN_ROLE"] = list(dict.fromkeys(roles["DEFAULT_ADMIN_ROLE"]))
    previous = []
    if existing is not None:
        previous = [
            *existing.previous,
            {"address": existing.address, "block_number": existing.block_number, "tx_hash": existing.tx_hash},
        ]
    block = provider.get_block(receipt.block_number)
    record = DeploymentRecord(
        chain_id=chain_id,
        network=network_choice,
        contract=CONTRACT,
        address=str(escrow.address),
        block_number=receipt.block_number,
        block_timestamp=int(block.timestamp),
        tx_hash=str(creation.txn_hash),
        deployer=str(sender.address),
        constructor_args={
            "admin": constructor_admin,
            "feeRecipient": fee_recipient,
            "responseWindow": settings.response_window,
            "reviewPeriod": settings.review_period,
            "seriousDelay": settings.serious_delay,
        },
        admin=admin,
        fee_recipient=str(escrow.feeRecipient()),
        roles=roles,
        tokens=[t for t in tokens if escrow.allowedTokens(t)],
        paused=bool(escrow.paused()),
        compiler=compiler_settings(
            [c.model_dump(by_alias=True, mode="json") for c in project.manifest.compilers or []], CONTRACT
        ),
        runtime_code_hash="0x" + keccak(bytes(provider.get_code(escrow.address))).hex(),
        mock_token=mock_token,
        confirmations=confirmations,
        genesis_hash=genesis_hash(provider),
        previous=previous,
    )
    path = save_record(record, directory)
    click.echo(f"{CONTRACT} at {record.address} (block {record.block_number}, tx {record.tx_hash}); recorded in {path}")
    return record


@click.command(cls=ConnectedProviderCommand, short_help="Deploy OrderEscrow and record it in deployments/")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A .toml or .json file of settings (TASKESCROW_DEPLOY_CONFIG); TASKESCROW_* variables override it.",
)
@click.option("--account", "account", default=None, help="ape account alias, or TEST::<i> (TASKESCROW_DEPLOYER).")
@click.option("--force", is_flag=True, default=False, help="Deploy even if the chain has a live recorded deployment.")
@click.option("--mock-token", is_flag=True, default=False, help="Also deploy and allow-list a MockERC20 (local only).")
@click.option("--confirmations", type=int, default=None, help="Confirmations to wait for on live networks.")
def cli(
    provider: ProviderAPI,
    config_path: Path | None,
    account: str | None,
    force: bool,
    mock_token: bool,
    confirmations: int | None,
) -> None:
    """Deploy OrderEscrow, grant its roles, allow-list its tokens, and record the deployment."""
    try:
        settings = load_settings(config_path)
        overrides: dict[str, Any] = {}
        if account:
            overrides["deployer"] = account
        if force:
            overrides["force"] = True
        if mock_token:
            overrides["mock_token"] = True
        if confirmations is not None:
            overrides["confirmations"] = confirmations
        settings = replace(settings, **overrides)
        deploy(provider, settings, network_choice=provider.network_choice, directory=deployments_dir())
    except DeploymentError as exc:
        raise click.ClickException(str(exc)) from exc
