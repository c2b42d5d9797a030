"""One log line and one latency sample per request, tied together by a request id.

The id comes from the reverse proxy's ``X-Request-ID`` when it looks like one (so a line in
nginx's log and ours can be matched), otherwise it is made here; either way the response
carries it back.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Response, g, request
from sqlalchemy import inspect

from incubator.web.metrics import observe_request

log = logging.getLogger("incubator.request")

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def start_request_clock() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if ACCEPTABLE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _user_id() -> int | None:
    # Only a user the view already loaded: looking one up here would cost /healthz a query. The
    # line is written after the commit, which expired the user: its identity key needs no query
    # (reading ``user.id`` would reload the row).
    state = inspect(g.get("_login_user"), raiseerr=False)  # None for no user and for anonymous
    identity = state.identity if state is not None else None
    return identity[0] if identity else None


def log_request(response: Response) -> Response:
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint or "unmatched"
    observe_request(endpoint, request.method, response.status_code, seconds)
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    log.info("%s %s %s", request.method, request.path, response.status_code, extra={"fields": {
        "request_id": request_id, "method": request.method, "path": request.path, "endpoint": endpoint,
        "status": response.status_code, "duration_ms": round(seconds * 1000, 2), "user_id": _user_id(),
        "remote_addr": request.remote_addr,
    }})
    return response
