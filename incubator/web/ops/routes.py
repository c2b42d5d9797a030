"""Endpoints for machines, not people: liveness, readiness and Prometheus metrics.

``/healthz`` and ``/readyz`` are public on purpose (a load balancer asks them without a login)
and reveal nothing but states and counts. ``/metrics`` answers only with the bearer token in
``METRICS_TOKEN``; without a token configured it does not exist.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from incubator.database import utcnow
from incubator.services.health import check_readiness, readiness_report
from incubator.web.metrics import render_metrics

bp = Blueprint("ops", __name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _readiness() -> Any:
    from incubator import PROJECT_ROOT

    return check_readiness(utcnow(), PROJECT_ROOT / "migrations",
                           stale_after=current_app.config["SCHEDULER_STALE_AFTER"],
                           outbox_max_delay=current_app.config["OUTBOX_MAX_DELAY"])


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/healthz")
def healthz() -> Any:
    """The process answers; deliberately no database, so a database outage restarts nothing."""
    return _no_store(jsonify(status="ok"))


@bp.route("/readyz")
def readyz() -> Any:
    readiness = _readiness()
    response = jsonify(readiness_report(readiness))
    response.status_code = 200 if readiness.ready else 503
    return _no_store(response)


def _bearer_token_matches(expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.route("/metrics")
def metrics() -> Any:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    if not _bearer_token_matches(expected):
        response = Response("bearer token required\n", status=401, mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return _no_store(Response(render_metrics(_readiness()), content_type=PROMETHEUS_CONTENT_TYPE))
