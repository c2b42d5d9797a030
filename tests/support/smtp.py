"""In-process SMTP server for tests (pytest plugin module).

Load it with ``pytest_plugins = ["tests.support.smtp"]`` (or ``-p tests.support.smtp``).

Fixture
-------
``smtp_server`` (function scope) -> :class:`SMTPTestServer`, already started
and stopped after the test.  Starting one takes a few milliseconds.

:class:`SMTPTestServer` (also usable without pytest, as a context manager)
    ``.host`` / ``.port``
        Where to point the code under test (``127.0.0.1`` and a free port).
    ``.messages`` -> ``list[ReceivedMessage]``
        Snapshot of the mails received so far, oldest first.
        :class:`ReceivedMessage` is an :class:`email.message.EmailMessage`
        (parsed with ``email.policy.default``, so ``msg["Subject"]`` is
        decoded text and ``msg.get_body()`` works) with the SMTP envelope
        attached as ``.envelope_from`` (``str``) and ``.envelope_to``
        (``list[str]``).
    ``.wait_for(count, timeout=5.0)`` -> ``list[ReceivedMessage]``
        Block until at least ``count`` mails arrived; raises an
        ``AssertionError`` listing what did arrive on timeout.
    ``.fail_with(code, text="...", *, stages=("RCPT", "DATA"), times=None)``
        Answer subsequent transactions with ``"<code> <text>"`` at the given
        stages (any of ``"MAIL"``, ``"RCPT"``, ``"DATA"``).  Use 421/451 for
        temporary and 550/554 for permanent failures.  ``times=N`` fails only
        the next N transactions (handy for retry logic), ``None`` fails until
        :meth:`recover`.  With the default stages smtplib raises
        ``SMTPRecipientsRefused``; with ``stages=("DATA",)`` it raises
        ``SMTPDataError``.
    ``.recover()``
        Back to accepting everything.
    ``.clear()``
        Forget received mails.

Example::

    def test_sends_welcome_mail(app, smtp_server):
        app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
        register_user(...)
        [mail] = smtp_server.wait_for(1)
        assert mail["To"] == "kari@example.org"
        assert "Velkommen" in mail.get_body(("plain",)).get_content()
"""

from __future__ import annotations

import email
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

FAILABLE_STAGES = frozenset({"MAIL", "RCPT", "DATA"})


class ReceivedMessage(EmailMessage):
    """An :class:`EmailMessage` that also remembers its SMTP envelope."""

    # Class-level defaults because the parser builds nested MIME parts with
    # the same class; only the top-level message gets real envelope values.
    envelope_from: str = ""
    envelope_to: list[str] = []  # never mutated, replaced per instance

    def summary(self) -> str:
        return f"from={self.envelope_from!r} to={self.envelope_to!r} subject={self['Subject']!r}"


_POLICY = default_policy.clone(message_factory=ReceivedMessage)


@dataclass
class _Failure:
    reply: str
    stages: frozenset[str]
    remaining: int | None  # None = until recover()


class _CollectingHandler:
    """aiosmtpd handler; its hooks run on the controller's event-loop thread."""

    def __init__(self, owner: SMTPTestServer) -> None:
        self._owner = owner

    async def handle_MAIL(  # aiosmtpd finds hooks by these names
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        # The failure mode is fixed per transaction at MAIL time, so that
        # `times=1` fails exactly one mail even if it has several recipients.
        failure = self._owner._claim_failure()
        envelope.test_failure = failure
        if failure and "MAIL" in failure.stages:
            return failure.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        failure: _Failure | None = getattr(envelope, "test_failure", None)
        if failure and "RCPT" in failure.stages:
            return failure.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure: _Failure | None = getattr(envelope, "test_failure", None)
        if failure and "DATA" in failure.stages:
            return failure.reply
        # original_content is always the raw bytes, whatever decode_data says.
        raw: bytes = envelope.original_content
        message = email.message_from_bytes(raw, policy=_POLICY)
        assert isinstance(message, ReceivedMessage)
        message.envelope_from = envelope.mail_from
        message.envelope_to = list(envelope.rcpt_tos)
        self._owner._deliver(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SMTPTestServer:
    """A local SMTP server that records every mail it accepts."""

    host = "127.0.0.1"

    def __init__(self, *, enable_smtputf8: bool = False) -> None:
        # SMTPUTF8 is off by default, like many relays: code under test must
        # then encode non-ASCII headers properly, which is what production needs.
        self._enable_smtputf8 = enable_smtputf8
        self._messages: list[ReceivedMessage] = []
        self._failure: _Failure | None = None
        self._cond = threading.Condition()
        self._controller: Controller | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> SMTPTestServer:
        # aiosmtpd's Controller probes its own port to detect readiness, which
        # does not work with port 0, so pick a free port and retry on a race.
        last_error: Exception | None = None
        for _ in range(5):
            port = _free_port()
            controller = Controller(
                _CollectingHandler(self),
                hostname=self.host,
                port=port,
                enable_SMTPUTF8=self._enable_smtputf8,
            )
            try:
                controller.start()
            except Exception as exc:  # aiosmtpd raises assorted errors on bind races
                last_error = exc
                continue
            self._controller = controller
            self.port = port
            return self
        raise RuntimeError(f"could not start SMTP test server: {last_error!r}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- received mail -----------------------------------------------------

    def _deliver(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` mails arrived; return all received so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    arrived = (
                        "\n".join(f"  {i}: {m.summary()}" for i, m in enumerate(self._messages, 1))
                        or "  (none)"
                    )
                    raise AssertionError(
                        f"expected at least {count} mail(s) on {self.host}:{self.port} "
                        f"within {timeout:g}s, got {len(self._messages)}:\n{arrived}"
                    )
                self._cond.wait(remaining)
            return list(self._messages)

    # -- failure injection -------------------------------------------------

    def fail_with(
        self,
        code: int,
        text: str = "Simulated failure",
        *,
        stages: Iterable[str] = ("RCPT", "DATA"),
        times: int | None = None,
    ) -> None:
        """Reply ``"<code> <text>"`` at ``stages`` for the next ``times`` transactions."""
        if not 400 <= code <= 599:
            raise ValueError(f"SMTP failure code must be 4xx or 5xx, got {code}")
        stage_set = frozenset(s.upper() for s in stages)
        if not stage_set or not stage_set <= FAILABLE_STAGES:
            raise ValueError(f"stages must be a non-empty subset of {sorted(FAILABLE_STAGES)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._cond:
            self._failure = _Failure(f"{code} {text}", stage_set, times)

    def recover(self) -> None:
        with self._cond:
            self._failure = None

    def _claim_failure(self) -> _Failure | None:
        with self._cond:
            failure = self._failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
            return failure


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    with SMTPTestServer() as server:
        yield server
