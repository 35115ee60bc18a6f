"""Run a relayer process: the API and the workers together (default), or either alone."""

from __future__ import annotations

import logging

import uvicorn

from offchain.relayer.api.main import create_app
from offchain.relayer.confirmer import Confirmer
from offchain.relayer.index.service import index_workers
from offchain.relayer.resender import Resender
from offchain.relayer.runtime import Runtime, build_runtime
from offchain.relayer.settings import Settings
from offchain.relayer.submitter import Submitter
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)


class Workers:
    """The submitter, confirmer and resender of one process, started and stopped together."""

    def __init__(self, runtime: Runtime) -> None:
        self.all: list[Worker] = [Submitter(runtime), Confirmer(runtime), Resender(runtime)]
        self.all += index_workers(runtime)

    def start(self) -> None:
        for worker in self.all:
            worker.start()
        log.info("workers started")

    def stop(self) -> None:
        for worker in reversed(self.all):
            worker.stop()
        log.info("workers stopped")


def serve(settings: Settings) -> None:
    runtime = build_runtime(settings)
    workers = Workers(runtime) if settings.run_workers else None
    if not settings.run_api:
        import signal
        import threading

        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        assert workers is not None
        workers.start()
        done.wait()
        workers.stop()
        return
    app = create_app(runtime, on_start=workers.start if workers else None, on_stop=workers.stop if workers else None)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
