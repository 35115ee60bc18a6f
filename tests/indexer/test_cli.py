"""``taskescrow index backfill`` (with its progress bar) and ``taskescrow webhooks add|list|replay``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from offchain.cli import cli
from offchain.relayer.db import make_engine, make_sessionmaker, transaction
from offchain.relayer.index.models import WebhookDelivery
from tests.relayer.harness import ARTIFACT, Deployment


def test_backfill_indexes_to_the_head_and_dead_letters_can_be_listed_and_replayed(
    deployment: Deployment, new_db: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    d.fund_orders([d.terms() for _ in range(3)])
    url = new_db("sqlite")
    for key, value in {
        "TASKESCROW_DATABASE_URL": url, "TASKESCROW_RPC_URLS": d.chain.url,
        "TASKESCROW_ESCROW_ADDRESS": d.escrow.address, "TASKESCROW_ARTIFACT_PATH": str(ARTIFACT),
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    added = runner.invoke(cli, ["webhooks", "add", "http://127.0.0.1:9/hook"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["secret"]
    result = runner.invoke(cli, ["index", "backfill"])
    assert result.exit_code == 0, result.output
    assert f"indexed up to block {d.w3.eth.block_number}" in result.output
    status = json.loads(runner.invoke(cli, ["index", "status"]).output)
    assert status["block"] == d.w3.eth.block_number and status["index_orders"] >= 3
    with transaction(make_sessionmaker(make_engine(url))) as session:
        session.execute(update(WebhookDelivery).values(state="dead", attempts=3, last_status=500))
    listed = [json.loads(line) for line in runner.invoke(cli, ["webhooks", "list"]).output.splitlines()]
    assert listed and {item["lastStatus"] for item in listed} == {500}
    replayed = runner.invoke(cli, ["webhooks", "replay", str(listed[0]["delivery"])])
    assert replayed.output.strip() == "requeued 1 deliveries"
    assert runner.invoke(cli, ["webhooks", "replay"]).output.strip() == f"requeued {len(listed) - 1} deliveries"
