"""Where indexing starts: the setting, else the escrow's deployment record, else the chain is searched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from offchain.relayer.index.watcher import Watcher
from tests.indexer.kit import make_runtime
from tests.relayer.harness import Deployment


def write_record(directory: Path, chain_id: int, address: str, block: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "chain_id": chain_id, "network": "ethereum:local:foundry", "contract": "OrderEscrow", "address": address,
        "block_number": block, "block_timestamp": 0, "tx_hash": "0x" + "00" * 32, "deployer": address,
        "constructor_args": {}, "admin": address, "fee_recipient": address, "roles": {}, "tokens": [],
        "paused": False, "compiler": {}, "runtime_code_hash": "0x" + "00" * 32,
    }  # fmt: skip
    (directory / f"{chain_id}.json").write_text(json.dumps(record))


def test_the_start_block_comes_from_the_setting_first(
    deployment: Deployment, new_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_record(tmp_path, deployment.chain.chain_id, deployment.escrow.address, 7)
    monkeypatch.setenv("TASKESCROW_DEPLOYMENTS_DIR", str(tmp_path))
    rt = make_runtime(deployment, new_db("sqlite"), index_start_block=3)
    assert Watcher(rt).start_block() == 3


def test_the_start_block_is_the_recorded_deployment_block_of_this_escrow(
    deployment: Deployment, new_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_record(tmp_path, deployment.chain.chain_id, deployment.escrow.address, 7)
    monkeypatch.setenv("TASKESCROW_DEPLOYMENTS_DIR", str(tmp_path))
    rt = make_runtime(deployment, new_db("sqlite"))
    assert Watcher(rt).start_block() == 7


def test_a_record_of_another_escrow_is_ignored(
    deployment: Deployment, new_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_record(tmp_path, deployment.chain.chain_id, "0x" + "11" * 20, 7)
    monkeypatch.setenv("TASKESCROW_DEPLOYMENTS_DIR", str(tmp_path))
    rt = make_runtime(deployment, new_db("sqlite"))
    assert Watcher(rt).start_block() == 0
