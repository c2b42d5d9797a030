"""Prove that the shared test fixtures in tests/support really work."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from tests.support.browser import serve_wsgi_in_thread
from tests.support.postgres import (
    create_database_from_template,
    database_name,
    drop_database,
    fresh_database,
)
from tests.support.smtp import SMTPTestServer

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))


# -- PostgreSQL -------------------------------------------------------------


def test_postgresql_url_is_a_working_database(postgresql_url: str) -> None:
    assert postgresql_url.startswith("postgresql+psycopg://")
    assert "@127.0.0.1:" in postgresql_url
    with _connect(postgresql_url) as conn:
        version, fsync, dbname = conn.execute(
            "select version(), current_setting('fsync'), current_database()"
        ).fetchone() or ("", "", "")
    assert "PostgreSQL" in version
    assert fsync == "off"
    assert dbname == database_name(postgresql_url)


def test_template_clone_copies_schema_and_is_isolated(postgresql_url: str) -> None:
    template_url = fresh_database(postgresql_url, "selftest_template")
    with _connect(template_url) as conn:
        conn.execute("create table residency (id serial primary key, name text)")
        conn.execute("insert into residency (name) values ('Ås')")
    # The template connection is closed here, as PostgreSQL requires for cloning.
    clone_url = create_database_from_template(postgresql_url, "selftest_template")
    try:
        with _connect(clone_url) as conn:
            conn.execute("insert into residency (name) values ('Øya')")
            names = [r[0] for r in conn.execute("select upper(name) from residency order by id")]
        assert names == ["ÅS", "ØYA"]
        with _connect(template_url) as conn:
            count = conn.execute("select count(*) from residency").fetchone()
        assert count == (1,)
    finally:
        drop_database(postgresql_url, database_name(clone_url))
        drop_database(postgresql_url, "selftest_template")


# -- SMTP -------------------------------------------------------------------


def _mail(subject: str = "Søknad mottatt – «inkubator»", to: str = "kari@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "noreply@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Hei Kari,\nvi har mottatt søknaden din.\n")
    return msg


def _send(server: SMTPTestServer, msg: EmailMessage, rcpts: Iterable[str] | None = None) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        client.send_message(msg, to_addrs=list(rcpts) if rcpts is not None else None)


def test_smtp_server_receives_non_ascii_mail(smtp_server: SMTPTestServer) -> None:
    _send(smtp_server, _mail(), rcpts=["kari@example.org", "bcc@example.org"])
    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Søknad mottatt – «inkubator»"
    assert received.envelope_from == "noreply@example.org"
    assert received.envelope_to == ["kari@example.org", "bcc@example.org"]
    body = received.get_body(("plain",))
    assert body is not None
    assert "mottatt søknaden" in body.get_content()


@pytest.mark.parametrize(
    ("code", "stages", "expected"),
    [
        (550, ("RCPT", "DATA"), smtplib.SMTPRecipientsRefused),
        (451, ("RCPT", "DATA"), smtplib.SMTPRecipientsRefused),
        (554, ("DATA",), smtplib.SMTPDataError),
        (421, ("MAIL",), smtplib.SMTPSenderRefused),
    ],
)
def test_smtp_server_fail_with_and_recover(
    smtp_server: SMTPTestServer, code: int, stages: tuple[str, ...], expected: type[Exception]
) -> None:
    smtp_server.fail_with(code, "Simulated outage", stages=stages)
    with pytest.raises(expected) as excinfo:
        _send(smtp_server, _mail())
    assert str(code) in str(excinfo.value)
    assert smtp_server.messages == []

    smtp_server.recover()
    _send(smtp_server, _mail())
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_fail_times_fails_only_next_transactions(smtp_server: SMTPTestServer) -> None:
    smtp_server.fail_with(451, "Try again later", times=1)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp_server, _mail(subject="first"))
    _send(smtp_server, _mail(subject="retry"))
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["retry"]


def test_smtp_wait_for_timeout_lists_what_arrived() -> None:
    # Plain class, no fixture: also proves non-pytest code can use it.
    with SMTPTestServer() as server:
        _send(server, _mail(subject="only one"))
        with pytest.raises(AssertionError, match=r"(?s)expected at least 2 mail.*got 1.*only one"):
            server.wait_for(2, timeout=0.2)


# -- Browser ----------------------------------------------------------------


def _hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = f"<!doctype html><title>t</title><h1>Hei fra {environ['PATH_INFO']} – ok</h1>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode("utf-8")]


@pytest.mark.browser
def test_browser_reads_page_from_wsgi_server(page: Page) -> None:
    with serve_wsgi_in_thread(_hello_app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        page.goto(base_url + "/sok")
        assert page.inner_text("h1") == "Hei fra /sok – ok"
