"""The admin's audit log and outbox: newest first, a keyset page at a time, filtered on the server."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient

from incubator.extensions import db
from incubator.models import AuditEvent, OutboundEmail
from incubator.services.queries import LOG_PAGE_SIZE, audit_page, outbox_page

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def _events(count: int, action: str = "offer.made", subject_type: str = "offer") -> None:
    db.session.add_all([AuditEvent(created_at=NOW, action=action, subject_type=subject_type, subject_id=n,
                                   details={}) for n in range(count)])
    db.session.commit()


def _rows(html: str, table_id: str) -> int:
    return html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].count("<tr") - 1  # less the header


def test_audit_pages_are_keyset_newest_first_and_end_exactly(admin_client: FlaskClient) -> None:
    _events(2 * LOG_PAGE_SIZE)
    first = audit_page()
    second = audit_page(before=first.next_before)
    assert len(first.items) == LOG_PAGE_SIZE and len(second.items) == LOG_PAGE_SIZE
    ids = [event.id for event in first.items + second.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    # The admin's own login is audited too; whatever is left after two full pages is the third.
    rest = audit_page(before=second.next_before) if second.next_before else None
    assert rest is None or rest.next_before is None

    page = admin_client.get("/admin/audit?action=offer.").get_data(as_text=True)
    assert _rows(page, "audit-table") == LOG_PAGE_SIZE
    older = re.search(r'href="(/admin/audit\?[^"]*before=\d+[^"]*)"', page).group(1).replace("&amp;", "&")
    assert _rows(admin_client.get(older).get_data(as_text=True), "audit-table") == LOG_PAGE_SIZE


def test_audit_filters_by_action_prefix_and_subject(admin_client: FlaskClient) -> None:
    _events(3, action="slot.created", subject_type="slot")
    _events(2, action="offer.made", subject_type="offer")
    assert len(audit_page(action="slot.").items) == 3
    assert [e.subject_id for e in audit_page(subject_type="offer", subject_id=1).items] == [1]
    assert audit_page(action="%").items == []  # a wildcard is a literal character
    page = admin_client.get("/admin/audit?subject=slot&subject_id=2").get_data(as_text=True)
    assert _rows(page, "audit-table") == 1
    assert admin_client.get("/admin/audit?before=x&subject_id=y").status_code == 200


def test_outbox_search_status_and_pages(admin_client: FlaskClient) -> None:
    db.session.add_all([OutboundEmail(to_address=f"founder{n}@example.org", subject=f"Offer {n}", body_text="-",
                                      kind="offer", status="failed" if n % 2 else "sent")
                        for n in range(LOG_PAGE_SIZE + 3)])
    db.session.commit()
    first = outbox_page()
    assert len(first.items) == LOG_PAGE_SIZE and first.next_before is not None
    assert len(outbox_page(before=first.next_before).items) == 3
    assert [e.to_address for e in outbox_page(search="FOUNDER7@").items] == ["founder7@example.org"]
    assert len(outbox_page(status="failed").items) == (LOG_PAGE_SIZE + 3) // 2
    page = admin_client.get("/admin/outbox?status=failed&q=offer 1").get_data(as_text=True)
    expected = sum(1 for n in range(LOG_PAGE_SIZE + 3) if n % 2 and f"Offer {n}".startswith("Offer 1"))
    assert _rows(page, "outbox-table") == expected


def test_admin_pages_show_times_in_the_same_zone_as_every_other_page(admin_client: FlaskClient) -> None:
    summer = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)
    db.session.add(AuditEvent(created_at=summer, action="offer.made", subject_type="offer", subject_id=1, details={}))
    db.session.add(OutboundEmail(to_address="ada@example.org", subject="Zone check", kind="test", body_text="x",
                                 created_at=summer))
    db.session.commit()
    # DEFAULT_TIMEZONE (Europe/Oslo) and the format of local_datetime, as on the call and review pages.
    assert "01 Jul 2026, 12:00 CEST" in admin_client.get("/admin/audit?action=offer.").get_data(as_text=True)
    outbox = admin_client.get("/admin/outbox?q=ada@example.org").get_data(as_text=True)
    assert "01 Jul 2026, 12:00 CEST" in outbox and "UTC" not in outbox
