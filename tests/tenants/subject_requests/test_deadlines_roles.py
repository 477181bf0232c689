"""The deadline [DSR-deadline]: one calendar month after receipt, shown in the list and flagged
when overdue; one extension by two months with a reason, only within the first month. And who
may handle requests: owners and admins only; another tenant's request is not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.subject_requests import deadlines, reminders
from tenantry.tenants.subject_requests.models import SubjectRequest
from tests.identity.support import T0, field_errors, flask_cli, in_app, new_tenant, text
from tests.tenants.subject_requests.support import EMAIL, client_as, open_request, relogin, seed, url


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


def _due(web_app, acme, request_id) -> tuple[datetime, datetime | None]:
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        req = db.session.get(SubjectRequest, uuid.UUID(request_id))
        return req.due_at, req.extended_at


@pytest.mark.parametrize(("received", "due"), [
    (datetime(2026, 6, 1, 9, 0, tzinfo=UTC), datetime(2026, 7, 1, 9, 0, tzinfo=UTC)),
    (datetime(2026, 1, 31, 23, 30, tzinfo=UTC), datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
    (datetime(2028, 1, 30, 8, 0, tzinfo=UTC), datetime(2028, 2, 29, 8, 0, tzinfo=UTC)),  # a leap year
    (datetime(2026, 12, 15, 12, 0, tzinfo=UTC), datetime(2027, 1, 15, 12, 0, tzinfo=UTC)),
])
@pytest.mark.obligation("DSR-deadline")
def test_a_request_is_due_one_calendar_month_after_receipt(web_app, acme, time_machine, received, due):
    time_machine.move_to(received, tick=False)
    admin = client_as(web_app, acme, "admin")
    request_id = open_request(admin, "access", name="Jana Nováková")
    assert _due(web_app, acme, request_id) == (due, None)
    listing = text(admin.get("/t/acme/subject-requests"))
    assert due.strftime("%Y-%m-%d %H:%M") in listing and "overdue" not in listing


@pytest.mark.obligation("DSR-deadline")
def test_the_list_flags_overdue_requests_and_a_late_close_is_recorded(web_app, acme, frozen):
    admin = client_as(web_app, acme, "admin")
    request_id = open_request(admin, "access", name="Jana Nováková")
    frozen.move_to(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), tick=False)  # the due instant itself: still in time
    relogin(admin)
    assert "overdue" not in text(admin.get("/t/acme/subject-requests"))
    frozen.move_to(datetime(2026, 7, 1, 9, 1, tzinfo=UTC), tick=False)
    relogin(admin)
    listing = text(admin.get("/t/acme/subject-requests"))
    assert "badge-danger\">overdue" in listing
    assert "overdue" in text(admin.get(url(request_id)))
    assert admin.post(url(request_id, "close"), data={"response": "Sent the copy."}).status_code == 302
    listing = text(admin.get("/t/acme/subject-requests"))
    assert "No open requests" in listing and "late</span>" in listing


@pytest.mark.obligation("DSR-deadline")
def test_the_deadline_extends_by_two_months_once_with_a_reason_within_the_first_month(web_app, acme, frozen):
    admin = client_as(web_app, acme, "owner")
    request_id = open_request(admin, "portability", name="Jana Nováková")
    frozen.shift(timedelta(days=29, hours=23))  # 2026-06-30 08:00: the first month still runs
    relogin(admin)
    no_reason = admin.post(url(request_id, "extend"), data={"extend-reason": "  "})
    assert no_reason.status_code == 422 and field_errors(text(no_reason), "extend-reason")
    assert _due(web_app, acme, request_id)[1] is None
    response = admin.post(url(request_id, "extend"), data={"extend-reason": "Records in three archives."})
    assert response.status_code == 302
    due, extended = _due(web_app, acme, request_id)
    assert due == datetime(2026, 9, 1, 9, 0, tzinfo=UTC) and extended == T0 + timedelta(days=29, hours=23)
    page = text(admin.get(url(request_id)))
    assert "Records in three archives." in page and "2026-09-01 09:00" in page
    again = admin.post(url(request_id, "extend"), data={"extend-reason": "More"})
    assert again.status_code == 422 and "only once" in text(again)
    assert _due(web_app, acme, request_id)[0] == due


@pytest.mark.obligation("DSR-deadline")
def test_an_extension_after_the_first_month_is_refused_with_a_clear_error(web_app, acme, frozen):
    admin = client_as(web_app, acme, "admin")
    request_id = open_request(admin, "access", name="Jana Nováková")
    frozen.move_to(datetime(2026, 7, 1, 9, 0, tzinfo=UTC), tick=False)  # one month after receipt: too late
    relogin(admin)
    response = admin.post(url(request_id, "extend"), data={"extend-reason": "Busy"})
    assert response.status_code == 422
    [error] = field_errors(text(response), "extend-reason")
    assert "can be extended only within" in error and "2026-07-01 09:00" in error
    assert _due(web_app, acme, request_id) == (datetime(2026, 7, 1, 9, 0, tzinfo=UTC), None)


def test_calendar_months_end_on_the_last_day_of_a_shorter_month():
    assert deadlines.add_months(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 4, 30, tzinfo=UTC)
    assert deadlines.extended_due(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 4, 28, tzinfo=UTC)
    assert deadlines.add_months(datetime(2026, 11, 30, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


@pytest.mark.parametrize("role", ["member", "viewer"])
@pytest.mark.obligation("DSR-access", "DPA-B.permissions")
def test_members_and_viewers_cannot_see_or_handle_requests(web_app, acme, role):
    seed(web_app, acme)
    admin = client_as(web_app, acme, "admin")
    request_id = open_request(admin, "erasure", email=EMAIL)
    other = client_as(web_app, acme, role)
    assert "/subject-requests" not in text(other.get("/t/acme/crm/contacts"))  # no nav entry
    assert "/subject-requests" in text(admin.get("/t/acme/crm/contacts"))
    for path in ("/t/acme/subject-requests", "/t/acme/subject-requests/new", url(request_id),
                 url(request_id, "download") + "?format=json", url(request_id, "rectify")):
        assert other.get(path).status_code == 403, path
    for action in ("erase", "close", "extend", "restrict", "object", "link", "lift-restriction",
                   "lift-objection", "recipients/told", "recipients/refresh", "rectify"):
        assert other.post(url(request_id, action), data={"confirm": "y", "response": "x"}).status_code == 403
    assert other.post("/t/acme/subject-requests/new", data={"kind": "access", "name": "X"}).status_code == 403
    assert _due(web_app, acme, request_id)[1] is None
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert db.session.get(SubjectRequest, uuid.UUID(request_id)).is_open


def test_another_tenants_request_is_not_found(web_app, acme):
    seed(web_app, acme)
    admin = client_as(web_app, acme, "admin")
    request_id = open_request(admin, "erasure", email=EMAIL)
    intruder = client_as(web_app, new_tenant(web_app, "globex", country="CZ"), "admin")
    assert intruder.get(f"/t/globex/subject-requests/{request_id}").status_code == 404
    assert intruder.post(f"/t/globex/subject-requests/{request_id}/erase", data={"confirm": "y"}).status_code == 404
    assert intruder.get(f"/t/acme/subject-requests/{request_id}").status_code == 404
    assert request_id not in text(intruder.get("/t/globex/subject-requests"))



@pytest.mark.obligation("DSR-deadline")
def test_the_sweep_reminds_owners_and_admins_a_week_ahead_and_tells_them_once_overdue(web_app, acme, frozen):
    admin = client_as(web_app, acme, "admin")
    member = client_as(web_app, acme, "member")
    request_id = open_request(admin, "access", name="Jana Nováková")  # due 2026-07-01 09:00
    answered = open_request(admin, "access", name="Petr Svoboda")
    assert admin.post(url(answered, "close"), data={"response": "Sent."}).status_code == 302

    def sweep(when: datetime) -> int:
        with in_app(web_app):
            return reminders.sweep(when)

    def told(kind: str) -> list[Notification]:
        with in_app(web_app, commit=False), all_tenants():
            rows = db.session.execute(sa.select(Notification).where(Notification.kind == kind)).scalars().all()
            for row in rows:
                row._text = row.body  # read while the session is open
            return rows

    assert sweep(datetime(2026, 6, 24, 8, 59, tzinfo=UTC)) == 0
    assert sweep(datetime(2026, 6, 24, 9, 0, tzinfo=UTC)) == 1  # a week before
    handlers = {acme.owner.email, admin.person.email}
    assert {n.to_email for n in told("dsr.request.due_soon")} == handlers  # owners and admins, not members
    assert member.person.email not in handlers
    assert sweep(datetime(2026, 6, 25, 9, 0, tzinfo=UTC)) == 0  # once
    assert sweep(datetime(2026, 7, 1, 9, 0, tzinfo=UTC)) == 0  # due now, not yet overdue
    frozen.move_to(datetime(2026, 7, 1, 9, 1, tzinfo=UTC), tick=False)
    result = flask_cli(web_app, "tenantry", "sweep")  # the periodic sweep runs it
    assert result.exit_code == 0, result.output
    overdue = told("dsr.request.overdue")
    assert {n.to_email for n in overdue} == handlers
    assert sweep(datetime(2026, 7, 2, 9, 0, tzinfo=UTC)) == 0
    assert len(told("dsr.request.overdue")) == 2
    for note in told("dsr.request.due_soon") + overdue:
        assert request_id in note._text and answered not in note._text and "Nováková" not in note._text
