"""The index's workers for a relayer process (registered in :class:`offchain.relayer.service.Workers`)."""

from __future__ import annotations

from offchain.relayer.index.keeper import Keeper
from offchain.relayer.index.watcher import Watcher
from offchain.relayer.index.webhooks import WebhookWorker
from offchain.relayer.runtime import Runtime
from offchain.relayer.worker import Worker


def index_workers(runtime: Runtime) -> list[Worker]:
    """The watcher and webhook sender (``TASKESCROW_RUN_INDEXER``), and the keeper (``TASKESCROW_RUN_KEEPER``,
    only with a sender key)."""
    settings = runtime.settings
    workers: list[Worker] = []
    if settings.run_indexer:
        workers += [Watcher(runtime), WebhookWorker(runtime)]
    if settings.run_keeper and settings.sender_address:
        workers.append(Keeper(runtime))
    return workers
