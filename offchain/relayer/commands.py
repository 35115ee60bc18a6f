"""The ``relayer``, ``keys`` and ``apikeys`` command groups of ``taskescrow`` (added in ``offchain/cli.py``)."""

from __future__ import annotations

import json
import sys

import click

from offchain.relayer.settings import Settings


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@click.group()
def relayer() -> None:
    """The relayer: HTTP API and transaction pipeline (configure with TASKESCROW_* variables)."""


@relayer.command("serve")
@click.option("--host", default=None, help="Bind address (TASKESCROW_HOST).")
@click.option("--port", type=int, default=None, help="Port (TASKESCROW_PORT).")
@click.option("--api/--no-api", "run_api", default=None, help="Serve the HTTP API (default on).")
@click.option("--workers/--no-workers", "run_workers", default=None, help="Run submitter/confirmer/resender.")
def relayer_serve(host: str | None, port: int | None, run_api: bool | None, run_workers: bool | None) -> None:
    """Migrate the database, then run the API and the workers until SIGTERM/Ctrl-C."""
    from offchain.relayer import logs
    from offchain.relayer.service import serve

    settings = _settings(host=host, port=port, run_api=run_api, run_workers=run_workers)
    logs.configure(settings.log_level)
    serve(settings)


@relayer.command("migrate")
def relayer_migrate() -> None:
    """Bring the database to the newest schema."""
    from offchain.relayer.db import migrate

    settings = _settings()
    migrate(settings.database_url)
    click.echo("database is at the newest schema")


@relayer.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def relayer_status(as_json: bool) -> None:
    """Jobs per state and in flight per signer."""
    from offchain.relayer import store
    from offchain.relayer.db import make_engine, make_sessionmaker, migrate

    settings = _settings()
    migrate(settings.database_url)
    sessions = make_sessionmaker(make_engine(settings.database_url))
    with sessions() as session:
        report = {"jobs": store.count_by_state(session), "in_flight": store.in_flight_by_signer(session)}
    if as_json:
        click.echo(json.dumps(report))
        return
    for state, count in sorted(report["jobs"].items()):
        click.echo(f"{state:12} {count}")
    for signer, count in report["in_flight"].items():
        click.echo(f"in flight {signer}: {count}")


@click.group()
def keys() -> None:
    """Encrypted keystores (TASKESCROW_KEYSTORE_DIR; passphrase from TASKESCROW_KEYSTORE_PASSPHRASE[_FILE])."""


@keys.command("new")
def keys_new() -> None:
    """Create a fresh key; prints only its address."""
    from offchain.relayer.keys import Keystore

    settings = _settings()
    click.echo(Keystore(settings.keystore_dir).new(settings.passphrase()))


@keys.command("import")
def keys_import() -> None:
    """Import a private key read from standard input (never from an argument: it would land in shell history)."""
    from offchain.relayer.keys import Keystore

    settings = _settings()
    secret = sys.stdin.readline().strip()
    click.echo(Keystore(settings.keystore_dir).add(secret, settings.passphrase()))


@keys.command("list")
def keys_list() -> None:
    """The addresses that have a keystore."""
    from offchain.relayer.keys import Keystore

    for address in Keystore(_settings().keystore_dir).addresses():
        click.echo(address)


@click.group()
def apikeys() -> None:
    """API keys of the relayer (stored hashed; the key is shown once)."""


def _sessions():  # type: ignore[no-untyped-def]
    from offchain.relayer.db import make_engine, make_sessionmaker, migrate

    settings = _settings()
    migrate(settings.database_url)
    return make_sessionmaker(make_engine(settings.database_url))


@apikeys.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(["backend", "arbiter", "admin"]))
def apikeys_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key called NAME with the given scopes; prints the key once."""
    from offchain.relayer import store
    from offchain.relayer.db import transaction

    with transaction(_sessions()) as session:
        click.echo(store.create_api_key(session, name=name, scopes=scopes))


@apikeys.command("revoke")
@click.argument("name")
def apikeys_revoke(name: str) -> None:
    """Revoke the key called NAME; requests with it get 401 from now on."""
    from offchain.relayer import store
    from offchain.relayer.db import transaction
    from offchain.relayer.exceptions import InvalidTransition

    try:
        with transaction(_sessions()) as session:
            store.update_api_key_active_to_revoked(session, name=name)
    except InvalidTransition as exc:
        raise click.ClickException(f"no active key called {name!r}") from exc
    click.echo(f"revoked {name}")


@apikeys.command("list")
def apikeys_list() -> None:
    """Every key: name, scopes, created, revoked."""
    from offchain.relayer import store

    with _sessions()() as session:
        for key in store.list_api_keys(session):
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.name}\t{key.scopes}\t{key.created_at:%Y-%m-%d}\t{state}")
