"""Template strings are translated through a per-request cached catalogue
(incubator/web/template_gettext.py); the cache must follow every change of locale in a request."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale, refresh

from incubator import create_app

TEMPLATE = "{{ _('Log in') }} / {{ ngettext('%(num)d application', '%(num)d applications', 2) }}"
EXPECTED = {"en": "Log in / 2 applications", "nb": "Logg inn / 2 søknader", "sv": "Logga in / 2 ansökningar"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                       "OUTBOX_DELIVERY": "manual", "SERVER_NAME": "localhost"})


def test_templates_speak_the_request_language(app: Flask) -> None:
    for locale, expected in EXPECTED.items():
        with app.test_request_context("/", headers={"Accept-Language": locale}):
            assert render_template_string(TEMPLATE) == expected
            assert render_template_string(TEMPLATE) == expected  # from the cache


def test_force_locale_inside_a_request_switches_and_restores_the_language(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "nb"}):
        assert render_template_string(TEMPLATE) == EXPECTED["nb"]
        with force_locale("sv"):  # an email to a Swedish-speaking recipient
            assert render_template_string(TEMPLATE) == EXPECTED["sv"]
            with force_locale("en"):
                assert render_template_string(TEMPLATE) == EXPECTED["en"]
            assert render_template_string(TEMPLATE) == EXPECTED["sv"]
        assert render_template_string(TEMPLATE) == EXPECTED["nb"]


def test_a_refreshed_locale_is_used_at_once(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "nb"}):
        assert render_template_string(TEMPLATE) == EXPECTED["nb"]
        from flask import request

        request.cookies = type(request.cookies)({"locale": "sv"})  # the visitor just chose Swedish
        refresh()
        assert render_template_string(TEMPLATE) == EXPECTED["sv"]
