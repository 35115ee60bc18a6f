"""The ``keys``, ``apikeys`` and ``relayer status`` commands (in-process, on a SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from eth_account import Account

from offchain.cli import cli
from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker
from offchain.relayer.keys import Keystore


def env(tmp_path: Path) -> dict[str, str]:
    return {
        "TASKESCROW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
        "TASKESCROW_KEYSTORE_DIR": str(tmp_path / "keys"),
        "TASKESCROW_KEYSTORE_PASSPHRASE": "correct horse",
    }


def test_imported_key_is_listed_and_never_printed(tmp_path: Path) -> None:
    account = Account.create()
    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "import"], input=account.key.hex() + "\n", env=env(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == account.address
    listed = runner.invoke(cli, ["keys", "list"], env=env(tmp_path))
    assert listed.output.split() == [account.address]
    stored = (tmp_path / "keys" / f"{account.address}.json").read_text()
    assert account.key.hex().removeprefix("0x") not in stored + result.output + listed.output
    assert Keystore(tmp_path / "keys").load(account.address, "correct horse").address == account.address


def test_keystore_with_a_wrong_passphrase_says_so_without_the_key(tmp_path: Path) -> None:
    account = Account.create()
    keystore = Keystore(tmp_path)
    keystore.add(account.key, "right", scrypt_n=2**4)
    try:
        keystore.load(account.address, "wrong")
    except Exception as exc:
        assert "wrong passphrase" in str(exc)
        assert account.key.hex().removeprefix("0x") not in repr(exc) + str(exc.__cause__)
    else:
        raise AssertionError("a wrong passphrase decrypted the keystore")


def test_invalid_private_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "import"], input="0xdeadbeefsecret\n", env=env(tmp_path))
    assert result.exit_code != 0
    assert "deadbeefsecret" not in result.output + repr(result.exception)


def test_api_key_is_shown_once_stored_hashed_and_revocable(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["apikeys", "create", "backend-1", "--scope", "backend"], env=env(tmp_path))
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    sessions = make_sessionmaker(make_engine(env(tmp_path)["TASKESCROW_DATABASE_URL"]))
    with sessions() as session:
        (row,) = store.list_api_keys(session)
        assert key.split("_")[2] not in row.secret_hash and row.scopes == "backend"
        assert store.verify_api_key(session, presented=key) is not None
    assert runner.invoke(cli, ["apikeys", "revoke", "backend-1"], env=env(tmp_path)).exit_code == 0
    with sessions() as session:
        assert store.verify_api_key(session, presented=key) is None
    again = runner.invoke(cli, ["apikeys", "revoke", "backend-1"], env=env(tmp_path))
    assert again.exit_code != 0 and "no active key" in again.output


def test_relayer_status_reports_jobs_per_state(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["relayer", "status", "--json"], env=env(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"jobs": {}, "in_flight": {}}
