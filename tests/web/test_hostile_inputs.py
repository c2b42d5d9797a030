"""No input gives a 5xx, and a refused request changes nothing (issue 14, item 5).

Hypothesis walks the URL map: every GET and POST rule, logged out and as every role, with
hostile path arguments, query strings and form values (huge, negative and unicode-digit
numbers, NUL bytes, 10,000-character strings, 1E+1000000, empty values), on SQLite and
PostgreSQL. Forms start from what the page itself offers (so a hostile value reaches deep code
behind an otherwise valid form) and carry the session's CSRF token. Every 4xx answer must leave
every table exactly as it was.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from incubator.domain.roles import Role
from incubator.web.inputs import MAX_DATABASE_ID
from tests.web.walk import (
    DatabaseWatch,
    ParsedForm,
    World,
    allowed_roles,
    build_path,
    build_world,
    collect_forms,
    routes,
    valid_argument,
    without_csrf,
)

# Ending one's own session is what these do on success; test_auth covers them.
SESSION_ENDING_ENDPOINTS = {"auth.logout"}
# Always sent with a query string, whether or not a page's own filter form names them.
COMMON_QUERY_NAMES = ["page", "next", "q", "months", "start", "programme", "site", "sort", "dir"]
EXAMPLES_PER_ALLOWED_ROLE = 3
BOUNDARY_IDS = [str(MAX_DATABASE_ID), str(MAX_DATABASE_ID + 1), str(2**63), "0"]

HOSTILE_NUMBERS = ["0", "-1", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "1" + "0" * 30, "9" * 5000,
                   "²", "٣", "1.5", "1E+1000000", "-1E+100", "1E-1000000", "NaN", "Infinity"]
HOSTILE_TEXT = ["", " ", "\x00", "a\x00b", "x" * 10_000, "é" * 3000, "<script>alert(1)</script>",
                "' OR 1=1 --", "../../etc/passwd", "9999-12", "0000-01", "9999-12-31", "0001-01-01",
                "2026-02-30", "\r\nBcc: x@example.org"]
hostile_value = st.one_of(st.sampled_from(HOSTILE_NUMBERS + HOSTILE_TEXT), st.text(max_size=12),
                          st.integers().map(str))


def test_no_input_gives_a_5xx_and_refusals_change_nothing(
    app: Flask, client: FlaskClient, applicant_client: FlaskClient, reviewer_client: FlaskClient,
    manager_client: FlaskClient, admin_client: FlaskClient,
) -> None:
    world = build_world(app, {None: client, Role.APPLICANT: applicant_client, Role.REVIEWER: reviewer_client,
                              Role.MANAGER: manager_client, Role.ADMIN: admin_client})
    forms = collect_forms(app, world)
    query_names = sorted({*COMMON_QUERY_NAMES, *(name for form in forms.values() for name in form.fields
                                                  if form.method == "GET")})
    walked: set[str] = set()
    with DatabaseWatch() as watch:
        walk_the_map(app, Prober(world, watch), world, forms, query_names, walked)
    assert len(walked) > 50  # the walk really covered the map


def walk_the_map(app: Flask, prober: Prober, world: World, forms: dict[str, ParsedForm], query_names: list[str],
                 walked: set[str]) -> None:
    for rule, method in routes(app):
        allowed = allowed_roles(app, rule.endpoint)
        if method == "POST" and rule.endpoint in SESSION_ENDING_ENDPOINTS:
            allowed = allowed & {None}
        probe_boundaries(prober, rule, method, allowed & set(world.clients))
        fuzz_as_allowed_roles(prober, rule, method, sorted(allowed, key=str), forms, query_names)
        for role in set(world.clients) - allowed:
            probe_as_refused_role(prober, rule, method, role)
        walked.add(rule.endpoint)


class Prober:
    """Sends one request and checks it: never a 5xx; a 4xx leaves every table as it was
    (the fingerprint is taken again only after a request that wrote; see DatabaseWatch)."""

    def __init__(self, world: World, watch: DatabaseWatch) -> None:
        self.world = world
        self.watch = watch

    def send(self, role: Role | None, method: str, url: str, query: dict[str, str],
             form: dict[str, str] | None = None) -> None:
        self.watch.changed_since_last_look()  # a success before this one may have written
        client = self.world.clients[role]
        if method == "GET":
            response = client.get(url, query_string=query)
        else:
            response = client.post(url, query_string=query, data={**(form or {}), "csrf_token": self.world.csrf[role]})
        where = f"{method} {url} ?{query} as {role} with {form}"
        if url == "/readyz" and response.status_code == 503:
            return  # "not ready" is /readyz's answer for a test database without a scheduler, by design
        assert response.status_code < 500, where
        if 400 <= response.status_code < 500:
            assert self.watch.changed_since_last_look() == [], where


def probe_as_refused_role(prober: Prober, rule: Any, method: str, role: Role | None) -> None:
    """A visitor the page refuses: a valid and an overflowing id both end before any work."""
    for value in (None, "9223372036854775808"):
        path = {name: value or valid_argument(name, prober.world) for name in rule.arguments}
        prober.send(role, method, build_path(rule.rule, path), {"page": "1" + "0" * 30}, {"value": "1E+1000000"})


def probe_boundaries(prober: Prober, rule: Any, method: str, roles: set[Role | None]) -> None:
    """Each numeric path argument at the edges of what an id column holds, for every role the
    page lets in (random draws would hit these exact values too rarely)."""
    numeric = [name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)]
    for role in roles:
        for name in numeric:
            for value in BOUNDARY_IDS:
                path = {other: valid_argument(other, prober.world) for other in rule.arguments}
                path[name] = value
                prober.send(role, method, build_path(rule.rule, path), {})


def fuzz_as_allowed_roles(prober: Prober, rule: Any, method: str, roles: list[Role | None],
                          forms: dict[str, ParsedForm], query_names: list[str]) -> None:
    """Hypothesis draws a role the page lets in and hostile path, query and form values; forms
    start from the page's own form (when a page offers one) so hostile values get deep."""
    if not roles:
        return
    valid_path = {name: valid_argument(name, prober.world) for name in rule.arguments}
    base_form = forms.get(f"{method} {build_path(rule.rule, valid_path)}")
    base_fields = without_csrf(base_form.fields) if base_form else {}
    form_names = sorted(base_fields) or sorted({name for form in forms.values() for name in without_csrf(form.fields)})

    @settings(max_examples=EXAMPLES_PER_ALLOWED_ROLE * len(roles), deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(
        role=st.sampled_from(roles),
        path=st.fixed_dictionaries({name: st.one_of(st.just(value), hostile_value)
                                    for name, value in valid_path.items()}),
        query=st.dictionaries(st.sampled_from(query_names), hostile_value, max_size=3),
        overrides=st.dictionaries(st.sampled_from(form_names), hostile_value, min_size=1, max_size=3),
    )
    def probe(role: Role | None, path: dict[str, str], query: dict[str, str], overrides: dict[str, str]) -> None:
        form = {**base_fields, **overrides} if method == "POST" else None
        prober.send(role, method, build_path(rule.rule, path), query, form)

    probe()
