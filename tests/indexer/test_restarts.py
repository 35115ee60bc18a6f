"""Restarts: the watcher process is SIGKILLed at random points during backfill and live indexing; the final index
and the set of webhooks are those of an uninterrupted run (no gap, no id produced twice)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from offchain.relayer.db import transaction
from offchain.relayer.index import webhooks
from offchain.relayer.index.models import IndexState, WebhookDelivery, WebhookEvent
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import WebhookWorker
from offchain.relayer.runtime import Runtime
from tests.indexer.kit import SECRET, catch_up, drain, index_snapshot, make_runtime, play_every_path, receiver
from tests.relayer.harness import ARTIFACT, ROOT, Deployment

H = b"h".ljust(32, b"\0")


def busy_market(d: Deployment, orders: int) -> None:
    terms = [d.terms() for _ in range(orders)]
    d.fund_orders(terms)
    for t in terms:
        d.send(d.client, d.escrow.functions.submitRequirements(t.orderRef, H))
        d.send(d.freelancer, d.escrow.functions.deliver(t.orderRef, H))


def start(d: Deployment, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKESCROW_")}
    env.update({
        "TASKESCROW_DATABASE_URL": db_url, "TASKESCROW_RPC_URLS": d.chain.url,
        "TASKESCROW_ESCROW_ADDRESS": d.escrow.address, "TASKESCROW_ARTIFACT_PATH": str(ARTIFACT),
        "TASKESCROW_INDEX_MAX_RANGE": "4", "TASKESCROW_POLL_INTERVAL": "0.02", "TASKESCROW_RUN_KEEPER": "0",
        "TASKESCROW_WEBHOOK_BACKOFF_BASE": "0.05", "TASKESCROW_WEBHOOK_BACKOFF_MAX": "0.2",
        "TASKESCROW_WEBHOOK_TIMEOUT": "0.5",
    })  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "offchain.relayer.index", "run"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip


def checkpoint(rt: Runtime) -> int:
    with rt.sessions() as session:
        state = session.get(IndexState, "escrow")
        return state.block_number if state else -1


def settled(rt: Runtime, head: int) -> bool:
    with rt.sessions() as session:
        pending = session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.state == "pending").limit(1)).all()
    return checkpoint(rt) >= head and not pending


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkilled_watcher_resumes_without_gap_or_duplicate(
    deployment: Deployment, new_db: Callable[[str], str], tmp_path: Path, kind: str
) -> None:
    d = deployment
    rng = random.Random(7)
    if not d.events("OrderFunded"):
        play_every_path(d)
    busy_market(d, 25)
    rt = make_runtime(d, new_db(kind))
    log = tmp_path / "watcher.log"
    with receiver() as hook:
        with transaction(rt.sessions) as session:
            webhooks.create_endpoint(session, url=hook.url, secret=SECRET)
        kills = 0
        for phase in ("backfill", "backfill", "live", "live"):
            if phase == "live":
                busy_market(d, 3)
            process = start(d, rt.settings.database_url, log)
            before = checkpoint(rt)
            deadline = time.monotonic() + 20
            # wait (for the process) until it has made some progress, then kill it at a random moment
            while checkpoint(rt) <= before and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        process = start(d, rt.settings.database_url, log)
        head = d.w3.eth.block_number
        deadline = time.monotonic() + 60
        while not settled(rt, head):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        killed_ids = set(hook.ids())
        duplicates = len(hook.ids()) - len(killed_ids)

    reference = make_runtime(d, new_db(kind))
    with receiver() as ref_hook:
        with transaction(reference.sessions) as session:
            webhooks.create_endpoint(session, url=ref_hook.url, secret=SECRET)
        catch_up(Watcher(reference))
        worker = WebhookWorker(reference)
        drain(worker, reference)
        worker.stop()
        assert index_snapshot(rt) == index_snapshot(reference)
        assert killed_ids == set(ref_hook.ids()), "the same webhooks, none missing"
    with rt.sessions() as session:
        produced = session.scalars(select(WebhookEvent.id)).all()
    assert len(produced) == len(set(produced)) == len(killed_ids), "every change produced once"
    assert kills == 4
    assert duplicates >= 0  # at-least-once: a 2xx lost with a killed process is sent again (same id)
