"""Prometheus metrics of one server (its own registry, so several apps can live in one process).

``/metrics`` serves them in the Prometheus text format. Under ``--workers N``
each worker process keeps its own numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# latency buckets from 0.5 ms to 10 s: single-row predictions sit in the low milliseconds
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("nbtrack_requests", "Prediction requests by model, version and HTTP status",
                                ["model", "version", "status"], registry=r)
        self.latency = Histogram("nbtrack_request_latency_seconds", "Prediction request latency (body read "
                                 "to response)", ["model"], buckets=BUCKETS, registry=r)
        self.errors = Counter("nbtrack_request_errors", "Failed prediction requests by model and reason",
                              ["model", "reason"], registry=r)
        self.rows = Counter("nbtrack_predicted_rows", "Rows predicted", ["model", "version"], registry=r)
        self.version = Gauge("nbtrack_served_version", "Model version being served", ["model", "ref"], registry=r)
        self.swaps = Counter("nbtrack_version_switches", "Served version changes (promotion, rollback)",
                             ["model"], registry=r)
        self.log_rows = Counter("nbtrack_prediction_log_rows", "Rows written to the prediction log", ["model"],
                                registry=r)
        self.log_dropped = Counter("nbtrack_prediction_log_dropped", "Prediction-log rows dropped because the "
                                   "store stayed unavailable and the buffer was full", ["model"], registry=r)
        self.log_buffered = Gauge("nbtrack_prediction_log_buffered", "Prediction-log rows waiting to be written",
                                  ["model"], registry=r)
        self.log_failures = Counter("nbtrack_prediction_log_write_failures", "Failed prediction-log writes "
                                    "(retried later)", ["model"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
