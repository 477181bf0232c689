"""Staff accounts get the same review as a workspace's members [TT-account-review, DPA-B.2fa]:
the staff page shows who is inactive for 30 and 90 days and whose two-factor enrolment is
pending, to platform admins only; one click deactivates; the first sweep of every month sends
the summary to the active platform admins, once."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import cron, notify
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, StaffUser
from tests import factories
from tests.identity import support
from tests.identity.support import T0, Who, in_app, sign_in, text, who

# The fixtures tests/tenants and tests/identity use (tests/admin has no conftest of its own).
fast_password_hashing, frozen, web_app = support.fast_password_hashing, support.frozen, support.web_app

NOW = T0 + timedelta(days=200)
DAY = timedelta(days=1)

pytestmark = pytest.mark.usefixtures("frozen")


def _staff(app, email: str, role: str = "support", *, last_login: timedelta | None = None,
           created: timedelta | None = None, session_seen: timedelta | None = None, totp: bool = True,
           password: bool = True, active: bool = True) -> Who:
    """A staff account; times are how long before NOW it signed in / was created / used a session."""
    with in_app(app):
        staff = factories.make_staff(role, email, with_totp=totp)
        if not password:
            staff.password_hash = None
        if last_login is not None:
            staff.last_login_at = NOW - last_login
        if created is not None:
            staff.created_at = NOW - created
        staff.active = active
        if session_seen is not None:
            db.session.add(AuthSession(staff_id=staff.id, token_hash=secrets.token_hex(32),
                                       created_at=NOW - session_seen, last_seen_at=NOW - session_seen))
        ref = who(staff)
    return ref


def _dd(html: str, dd_id: str) -> str:
    match = re.search(rf'<dd id="{dd_id}">(.*?)</dd>', html, re.S)
    assert match, dd_id
    return match.group(1)


def _notes(app) -> list[dict]:
    with in_app(app, commit=False):
        return [{"staff_id": n.staff_id, "to": n.to_email, "in_app": n.in_app, "subject": n.subject}
                for n in db.session.execute(sa.select(notify.Notification).where(
                    notify.Notification.kind == "staff_review.monthly")
                    .order_by(notify.Notification.created_at, notify.Notification.to_email)).scalars()]


@pytest.fixture
def people(web_app):
    """Staff around the boundaries, all created at T0 (200 days before NOW) unless said."""
    return {
        "admin": _staff(web_app, "admin@example.com", "platform-admin"),
        "s29": _staff(web_app, "s29@example.com", last_login=30 * DAY - timedelta(minutes=1)),
        "s30": _staff(web_app, "s30@example.com", "dpo", last_login=30 * DAY),
        "s89": _staff(web_app, "s89@example.com", last_login=90 * DAY - timedelta(minutes=1)),
        "s90": _staff(web_app, "s90@example.com", "platform-admin", last_login=90 * DAY),
        "session": _staff(web_app, "session@example.com", last_login=150 * DAY, session_seen=3 * DAY),
        "never_old": _staff(web_app, "never-old@example.com", created=100 * DAY, password=False, totp=False),
        "never_new": _staff(web_app, "never-new@example.com", created=5 * DAY, password=False, totp=False),
        "no_2fa": _staff(web_app, "no-2fa@example.com", last_login=DAY, totp=False),
        "gone": _staff(web_app, "gone@example.com", "platform-admin", last_login=300 * DAY, active=False),
    }


@pytest.mark.obligation("TT-account-review", "DPA-B.2fa")
def test_the_staff_page_shows_inactivity_and_pending_two_factor(web_app, people, frozen):
    frozen.move_to(NOW, tick=False)
    client = web_app.test_client()
    sign_in(client, people["admin"])
    response = client.get("/admin/staff/")
    assert response.status_code == 200
    html = text(response)
    long, short, no_2fa = (_dd(html, "staff-inactive-long"), _dd(html, "staff-inactive-short"),
                           _dd(html, "staff-without-2fa"))
    assert long.startswith("2") and "s90@example.com" in long and "never-old@example.com" in long
    assert short.startswith("2") and "s30@example.com" in short and "s89@example.com" in short
    for email in ("s29@", "session@", "never-new@", "gone@", "admin@"):
        assert email not in long and email not in short
    assert no_2fa.startswith("3")
    for email in ("never-old@", "never-new@", "no-2fa@"):
        assert email in no_2fa
    assert "gone@" not in no_2fa and "s30@" not in no_2fa
    assert "enrolment pending" in html and "set-up pending" in html
    assert re.search(r"<dt>Platform admins</dt><dd>2</dd>", html)  # the deactivated one is not counted
    assert "never <span class=\"muted\">(created 2026-09-09)</span>" in html  # counted from creation


@pytest.mark.obligation("TT-account-review", "TT-least-privilege")
@pytest.mark.parametrize("role", ["dpo", "support"])
def test_only_platform_admins_see_the_staff_review(web_app, people, role):
    person = _staff(web_app, f"{role}-reader@example.com", role)
    client = web_app.test_client()
    sign_in(client, person)
    response = client.get("/admin/staff/")
    assert response.status_code == 403
    assert "s90@example.com" not in text(response)
    assert client.post(f"/admin/staff/{people['s90'].id}/deactivate").status_code == 403


@pytest.mark.obligation("TT-account-review")
def test_an_inactive_staff_account_is_deactivated_with_one_click(web_app, people, frozen):
    frozen.move_to(NOW, tick=False)
    client = web_app.test_client()
    sign_in(client, people["admin"])
    assert client.post(f"/admin/staff/{people['s90'].id}/deactivate").status_code == 302
    with in_app(web_app, commit=False):
        assert db.session.get(StaffUser, people["s90"].id).active is False
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "staff.deactivated")).scalar_one()
        assert event.target_id == str(people["s90"].id) and event.actor_id == str(people["admin"].id)
    html = text(client.get("/admin/staff/"))
    assert "s90@example.com" not in _dd(html, "staff-inactive-long")
    assert "s90@example.com" in html  # the account stays, shown as deactivated


@pytest.mark.obligation("TT-account-review")
def test_the_monthly_staff_review_goes_to_active_platform_admins_once_a_month(web_app, people, frozen, outbox):
    july = datetime(2026, 7, 1, 0, 5, tzinfo=UTC)
    frozen.move_to(july, tick=False)
    outbox.clear()
    with in_app(web_app):
        assert cron.sweep(july)["staff-review.monthly"] == 2
    with in_app(web_app):
        assert cron.sweep(july + timedelta(hours=3))["staff-review.monthly"] == 0
    told = _notes(web_app)
    assert [n["to"] for n in told] == ["admin@example.com", "s90@example.com"]
    assert all(n["in_app"] and n["subject"] == "Monthly staff account review (2026-07)" for n in told)
    [mail] = outbox.to("admin@example.com")
    body = mail.get_content()
    assert "active staff accounts: 9, platform admins: 2" in body
    assert "two-factor enrolment pending (staff always need it): 3" in body and "no-2fa@example.com" in body
    assert "http://localhost/admin/staff/" in body
    assert outbox.to("gone@example.com") == [] and outbox.to("s30@example.com") == []

    frozen.move_to(NOW, tick=False)
    with in_app(web_app):
        assert cron.sweep(NOW)["staff-review.monthly"] == 2
    december = [m for m in outbox.to("admin@example.com") if "(2026-12)" in m["Subject"]]
    assert len(december) == 1
    body = december[0].get_content()
    # The admin who was told has not signed in since its creation either (200 days).
    assert "inactive for 90 days or more: 3" in body and "s90@example.com" in body
    assert "never-old@example.com (support), 100 days" in body and "admin@example.com (platform-admin), 200 days" in body
    assert "inactive for 30 to 89 days: 2" in body and "s30@example.com" in body
    assert "s29@example.com" not in body.split("two-factor")[0]
    assert len(_notes(web_app)) == 4
