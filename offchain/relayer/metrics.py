"""Prometheus metrics of the relayer (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

QUEUE_DEPTH = Gauge("taskescrow_relayer_jobs", "Jobs by state", ["state"])
IN_FLIGHT = Gauge("taskescrow_relayer_in_flight", "Jobs with a nonce and no final receipt, per signer", ["signer"])
TIME_TO_CONFIRM = Histogram(
    "taskescrow_relayer_seconds_to_confirmation",
    "Seconds from accepting a job to its confirmation",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
BROADCASTS = Counter("taskescrow_relayer_broadcasts_total", "Raw transactions sent to a node", ["result"])
BUMPS = Counter("taskescrow_relayer_bumps_total", "Replacement attempts with a higher price")
FAILURES = Counter("taskescrow_relayer_failures_total", "Jobs that ended failed", ["error"])
REORGS = Counter("taskescrow_relayer_reorgs_total", "Receipts that left the canonical chain")
REALIGNS = Counter("taskescrow_relayer_nonce_realigns_total", "Jobs whose nonce someone else used")
WORKER_ERRORS = Counter("taskescrow_relayer_worker_errors_total", "Worker cycles that raised", ["worker", "error"])
