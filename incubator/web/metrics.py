"""Prometheus metrics: request latency per endpoint, plus gauges read from the database.

Request latency lives in each process. Under gunicorn with several workers, set
``PROMETHEUS_MULTIPROC_DIR`` (deploy/gunicorn.conf.py does): every worker then writes its
samples to files there and a scrape, whichever worker answers it, adds them all up. The outbox,
scheduler and job figures are read from the database at scrape time, so they are the same on
every host and need no sharing at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from incubator.services.health import Readiness

# Not in the global registry: the scrape builds its own (see render_metrics).
REQUEST_LATENCY = Histogram(
    "incubator_http_request_duration_seconds",
    "Time to answer a request, per endpoint, method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(endpoint=endpoint, method=method, status=str(status)).observe(seconds)


class DatabaseCollector(Collector):
    """Gauges and counters from one readiness snapshot."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    def collect(self) -> Iterator[Any]:
        state = self.readiness
        yield GaugeMetricFamily("incubator_database_up", "1 if the database answered this scrape.",
                                value=1 if state.database else 0)
        outbox = GaugeMetricFamily("incubator_outbox_emails", "Emails in the outbox by status.", labels=["status"])
        for status in ("pending", "sending", "failed"):
            outbox.add_metric([status], state.outbox.by_status.get(status, 0) if state.outbox else 0)
        yield outbox
        yield GaugeMetricFamily("incubator_outbox_oldest_due_seconds",
                                "How long the most overdue pending email has waited.",
                                value=state.outbox.oldest_due_seconds if state.outbox else 0)
        yield from self._scheduler()
        yield from self._jobs()

    def _scheduler(self) -> Iterator[Any]:
        scheduler = self.readiness.scheduler
        yield GaugeMetricFamily("incubator_scheduler_leader_present",
                                "1 while a scheduler process holds a fresh lease.",
                                value=1 if scheduler and scheduler.fresh else 0)
        leader = GaugeMetricFamily("incubator_scheduler_leader", "The process holding the scheduler lease.",
                                   labels=["holder"])
        if scheduler and scheduler.leader and scheduler.fresh:
            leader.add_metric([scheduler.leader], 1)
        yield leader
        if scheduler and scheduler.renewed_seconds_ago is not None:
            yield GaugeMetricFamily("incubator_scheduler_lease_age_seconds",
                                    "Seconds since the leader last renewed its lease.",
                                    value=scheduler.renewed_seconds_ago)

    def _jobs(self) -> Iterator[Any]:
        duration = GaugeMetricFamily("incubator_job_last_duration_seconds",
                                     "Duration of each job's last run (reminder-sweep: the sweep).", labels=["job"])
        items = GaugeMetricFamily("incubator_job_last_items",
                                  "What each job's last run handled (reminder-sweep: reminders sent).",
                                  labels=["job"])
        finished = GaugeMetricFamily("incubator_job_last_finished_timestamp_seconds",
                                     "When each job last finished (Unix time).", labels=["job"])
        runs = CounterMetricFamily("incubator_job_runs", "Runs of each job.", labels=["job"])
        failures = CounterMetricFamily("incubator_job_failures", "Failed runs of each job.", labels=["job"])
        handled = CounterMetricFamily("incubator_job_items", "Everything each job has handled.", labels=["job"])
        for job in self.readiness.jobs:
            duration.add_metric([job.job], job.last_duration_seconds)
            items.add_metric([job.job], job.last_items)
            finished.add_metric([job.job], job.last_finished_at.timestamp())
            runs.add_metric([job.job], job.runs)
            failures.add_metric([job.job], job.failures)
            handled.add_metric([job.job], job.items_total)
        yield from (duration, items, finished, runs, failures, handled)


def render_metrics(readiness: Readiness) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every worker's files, this one's included
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(DatabaseCollector(readiness))
    return generate_latest(registry)
