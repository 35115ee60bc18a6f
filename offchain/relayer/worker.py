"""The loop every worker shares: ``start`` a thread that calls ``run_once`` until ``stop``."""

from __future__ import annotations

import logging
import threading

from offchain.relayer.exceptions import RelayerError
from offchain.relayer.metrics import WORKER_ERRORS
from offchain.relayer.runtime import Runtime

log = logging.getLogger(__name__)


class Worker:
    """Base class: subclasses implement :meth:`run_once` (returns how much work it did; 0 means idle)."""

    name = "worker"
    #: a :meth:`Runtime.notify` topic that wakes this worker at once (None: it only polls)
    wake_on: str | None = None

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._stop = threading.Event()
        self._wake = threading.Event()
        if self.wake_on is not None:
            runtime.listen(self.wake_on, self._wake.set)
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        """Seconds to wait after an idle cycle."""
        return self.rt.settings.poll_interval

    def linger(self, busy: int) -> float:
        """Seconds to pause after a cycle that did ``busy`` units of work, so the next cycle finds a batch (0: none)."""
        return 0.0

    def run_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        interval = self.interval
        failures = 0
        while not self._stop.is_set():
            try:
                busy = self.run_once()
                failures = 0
            except RelayerError as exc:
                failures += 1
                busy = 0
                WORKER_ERRORS.labels(self.name, type(exc).__name__).inc()
                log.warning("%s cycle failed: %s", self.name, exc, extra={"worker": self.name})
                self._stop.wait(min(0.1 * 2**failures, 5.0))
            except Exception:
                failures += 1
                busy = 0
                WORKER_ERRORS.labels(self.name, "unexpected").inc()
                log.exception("%s cycle crashed", self.name, extra={"worker": self.name})
                self._stop.wait(min(0.1 * 2**failures, 5.0))
            if not busy:
                self._wake.wait(interval)
            elif pause := self.linger(busy):
                self._stop.wait(pause)
            self._wake.clear()
