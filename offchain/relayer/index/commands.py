"""The ``index`` and ``webhooks`` command groups of ``taskescrow`` (added in ``offchain/cli.py``)."""

from __future__ import annotations

import json
import signal
import threading

import click

from offchain.relayer.settings import Settings


def _runtime(**overrides: object):  # type: ignore[no-untyped-def]
    from offchain.relayer.runtime import build_runtime

    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    return build_runtime(settings)


@click.group()
def index() -> None:
    """The chain index: OrderEscrow events → orders, deliveries, reviews, payments (TASKESCROW_* settings)."""


@index.command("backfill")
@click.option("--from-block", type=int, default=None, help="First block (TASKESCROW_INDEX_START_BLOCK) on a new index.")
def index_backfill(from_block: int | None) -> None:
    """Index from the checkpoint (or the deployment block) up to the confirmed head, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from offchain.relayer.index.watcher import Watcher

    rt = _runtime(index_start_block=from_block, sender_address="", quote_signer_address="", arbiter_address="")
    watcher = Watcher(rt)
    start, _ = watcher.checkpoint()
    columns = (TextColumn("indexing blocks"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("index", total=None)

        def report(done: int, target: int) -> None:
            progress.update(task, completed=done - start, total=max(target - start, 1))

        watcher.progress = report
        while watcher.run_once():
            pass
    block, block_hash = watcher.checkpoint()
    click.echo(f"indexed up to block {block} ({block_hash})")


@index.command("run")
def index_run() -> None:
    """Run the watcher and the webhook sender (and the keeper if TASKESCROW_RUN_KEEPER) until SIGTERM/Ctrl-C."""
    from offchain.relayer import logs
    from offchain.relayer.index.service import index_workers

    rt = _runtime()
    logs.configure(rt.settings.log_level)
    workers = index_workers(rt)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    for worker in workers:
        worker.start()
    done.wait()
    for worker in reversed(workers):
        worker.stop()


@index.command("status")
def index_status() -> None:
    """The checkpoint and the row counts."""
    from offchain.relayer.index.models import IndexState
    from offchain.relayer.index.watcher import STATE_NAME, index_counts

    rt = _runtime(sender_address="", quote_signer_address="", arbiter_address="")
    with rt.sessions() as session:
        state = session.get(IndexState, STATE_NAME)
        report = {"block": state.block_number if state else None, "hash": state.block_hash if state else None,
                  **index_counts(session)}  # fmt: skip
    click.echo(json.dumps(report))


@click.group()
def webhooks() -> None:
    """Webhook endpoints and the dead-letter list."""


def _sessions():  # type: ignore[no-untyped-def]
    from offchain.relayer.db import make_engine, make_sessionmaker, migrate

    settings = Settings()
    migrate(settings.database_url)
    return make_sessionmaker(make_engine(settings.database_url))


@webhooks.command("add")
@click.argument("url")
@click.option("--secret", default=None, help="HMAC secret (generated if omitted; printed once).")
@click.option("--description", default="")
def webhooks_add(url: str, secret: str | None, description: str) -> None:
    """Register an endpoint that receives every indexed change from now on."""
    from offchain.relayer.db import transaction
    from offchain.relayer.index.webhooks import create_endpoint

    with transaction(_sessions()) as session:
        row = create_endpoint(session, url=url, secret=secret, description=description)
        click.echo(json.dumps({"id": row.id, "url": row.url, "secret": row.secret}))


@webhooks.command("list")
@click.option("--state", type=click.Choice(["dead", "pending", "delivered"]), default="dead", show_default=True)
@click.option("--limit", type=int, default=100, show_default=True)
def webhooks_list(state: str, limit: int) -> None:
    """Deliveries in a state (the dead-letter list by default), one JSON object a line."""
    from sqlalchemy import select

    from offchain.relayer.index.models import WebhookDelivery, WebhookEvent

    with _sessions()() as session:
        rows = session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
            .where(WebhookDelivery.state == state)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        ).all()
        for d, e in rows:
            click.echo(json.dumps({"delivery": d.id, "endpoint": d.endpoint_id, "event": e.id, "type": e.type,
                                   "ref": e.ref, "attempts": d.attempts, "lastStatus": d.last_status,
                                   "lastError": d.last_error}))  # fmt: skip


@webhooks.command("replay")
@click.argument("delivery_ids", nargs=-1, type=int)
def webhooks_replay(delivery_ids: tuple[int, ...]) -> None:
    """Requeue dead deliveries (all, or the given ids) with a fresh retry window."""
    from offchain.relayer.db import transaction
    from offchain.relayer.index.webhooks import replay_dead

    with transaction(_sessions()) as session:
        count = replay_dead(session, delivery_ids=list(delivery_ids) or None)
    click.echo(f"requeued {count} deliveries")
