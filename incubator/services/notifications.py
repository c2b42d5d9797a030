"""The outbox: emails are rendered and stored as rows in the caller's transaction.

Nothing is sent here. Delivery happens after the transaction commits (see incubator.mail), so
an email never announces a change that was rolled back, and a failed send never undoes one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from flask import current_app, has_request_context, render_template
from flask_babel import force_locale, get_locale
from flask_babel.speaklater import LazyString

from incubator.extensions import db
from incubator.links import public_base_url
from incubator.models import Call, OutboundEmail

OUTBOX_DIRTY = "outbox_dirty"
# Kinds of outbox rows that are not essential: they carry an unsubscribe link and header.
NON_ESSENTIAL_KINDS = frozenset({"reminders"})


@contextlib.contextmanager
def outside_request_context() -> Iterator[None]:
    """A request context for rendering emails (translations, url_for of paths) in the scheduler
    process; absolute links come from ``public_url`` either way."""
    if has_request_context():
        yield
        return
    with current_app.test_request_context("/", base_url=public_base_url()):
        yield



def call_title(call: Call) -> LazyString:
    """The call's title for an email subject, read when the subject is rendered (inside
    queue_email's force_locale), so the recipient gets their language's version."""
    return LazyString(lambda: call.text("title", str(get_locale() or "")))


def queue_email(
    to_address: str,
    subject: str | LazyString,
    template: str,
    *,
    kind: str,
    dedupe_key: str | None = None,
    locale: str | None = None,
    **context: Any,
) -> OutboundEmail:
    """Render ``templates/emails/<template>.txt`` (and ``.html`` when present) into the outbox.

    ``locale`` is the recipient's language (``User.locale``): the subject (give it as a
    ``lazy_gettext`` string) and the body are rendered in it, whoever triggered the email; without
    one the current request's language is used (a visitor who registers reads what they saw)."""
    if locale:
        with force_locale(locale):
            subject_text = str(subject)
            body_text = render_template(f"emails/{template}.txt", subject=subject_text, **context)
    else:
        subject_text = str(subject)
        body_text = render_template(f"emails/{template}.txt", subject=subject_text, **context)
    email = OutboundEmail(
        to_address=to_address,
        subject=subject_text,
        body_text=body_text,
        body_html=None,
        kind=kind,
        dedupe_key=dedupe_key,
    )
    db.session.add(email)
    db.session.flush()
    # Tells the request's commit hook that there is mail to hand to the deliverer.
    db.session.info[OUTBOX_DIRTY] = True
    return email
