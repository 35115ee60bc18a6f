"""The ``taskescrow`` command line."""

from __future__ import annotations

import contextlib
import signal

import click

from offchain.localchain import LocalChain
from offchain.toolchain import solc_version


@click.group()
@click.version_option(package_name="taskescrow")
def cli() -> None:
    """taskescrow: escrow contracts for an AI-freelancer marketplace, and the tools around them."""


@cli.group()
def chain() -> None:
    """A local chain for development."""


@chain.command("run")
@click.option("--chain-id", type=int, default=31337, show_default=True, help="97 mimics BSC testnet.")
@click.option("--port", type=int, default=0, help="0 picks a free port.")
def chain_run(chain_id: int, port: int) -> None:
    """Run anvil until Ctrl-C, printing its URL."""
    with LocalChain(chain_id=chain_id, port=port) as local:
        click.echo(f"anvil (chain id {chain_id}) at {local.url}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


@cli.command("toolchain")
def toolchain() -> None:
    """Print the pinned compiler version."""
    click.echo(f"solc {solc_version()}")


def _add_relayer_groups() -> None:
    from offchain.relayer.commands import apikeys, keys, relayer

    for group in (relayer, keys, apikeys):
        cli.add_command(group)


_add_relayer_groups()


def _add_index_groups() -> None:
    from offchain.relayer.index.commands import index, webhooks

    for group in (index, webhooks):
        cli.add_command(group)


_add_index_groups()
