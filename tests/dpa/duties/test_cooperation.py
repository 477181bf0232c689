"""Cooperation requests [DPA-3.2]: either side asks, the other answers within 10 business days
(Czech calendar), reminders after 5 and 8 business days, overdue flagged on both sides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantry.dpa.duties.models import CooperationRequest
from tenantry.platform import cron
from tests.dpa.duties.support import new_staff, notices, rows
from tests.identity.support import in_app, new_tenant, sign_in, text

# Friday 23 October 2026, 10:00 UTC; Wednesday 28 October is a Czech public holiday.
OPENED = datetime(2026, 10, 23, 10, 0, tzinfo=UTC)


def _sweep(app, as_of: datetime) -> dict:
    with in_app(app):
        return cron.sweep(as_of)


def _kinds(app) -> list[tuple[str, str]]:
    return sorted((n["kind"], "staff" if n["staff_id"] else n["to_email"]) for n in notices(app)
                  if n["kind"].startswith("cooperation.") and n["kind"] != "cooperation.opened")


@pytest.mark.obligation("DPA-3.2")
def test_due_in_ten_business_days_with_reminders_at_five_and_eight_and_overdue_on_both_sides(
        web_app, web, time_machine, outbox):
    time_machine.move_to(OPENED, tick=False)
    acme = new_tenant(web_app, "acme")
    sign_in(web, acme.owner)
    response = web.post("/t/acme/cooperation", data={"topic": "dsr", "subject": "Access request from a customer",
                                                     "details": "Please export everything about contact #42."})
    assert response.status_code == 302
    [req] = rows(web_app, CooperationRequest)
    assert req["direction"] == "to-processor"
    # Mon 26, Tue 27, (Wed 28 holiday), Thu 29, Fri 30, Mon 2 Nov = 5; Thu 5 Nov = 8; Mon 9 Nov = 10.
    assert req["remind_first_at"] == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert req["remind_second_at"] == datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    assert req["due_at"] == datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
    assert any("Cooperation request" in str(m["Subject"]) for m in outbox.to("dpo@tenantry.localhost"))
    dpo = new_staff(web_app, "dpo")

    _sweep(web_app, datetime(2026, 11, 2, 9, 59, tzinfo=UTC))
    assert _kinds(web_app) == []
    _sweep(web_app, datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    _sweep(web_app, datetime(2026, 11, 2, 10, 5, tzinfo=UTC))  # idempotent
    assert _kinds(web_app) == [("cooperation.reminder", "dpo@tenantry.localhost"), ("cooperation.reminder", "staff")]
    _sweep(web_app, datetime(2026, 11, 5, 10, 0, tzinfo=UTC))
    assert len(_kinds(web_app)) == 4
    bodies = [m.get_content() for m in outbox.to("dpo@tenantry.localhost")]
    assert sum("5 business days have passed" in b for b in bodies) == 1
    assert sum("8 business days have passed" in b for b in bodies) == 1

    # Sessions end after idle time: sign in afresh after each jump of the clock.
    time_machine.move_to(datetime(2026, 11, 9, 9, 59, tzinfo=UTC), tick=False)
    _sweep(web_app, datetime(2026, 11, 9, 9, 59, tzinfo=UTC))
    assert len(_kinds(web_app)) == 4
    web = web_app.test_client()
    sign_in(web, acme.owner)
    page = web.get(f"/t/acme/cooperation/{req['id']}")
    assert page.status_code == 200 and "overdue" not in text(page)

    time_machine.move_to(datetime(2026, 11, 9, 10, 0, tzinfo=UTC), tick=False)
    _sweep(web_app, datetime(2026, 11, 9, 10, 0, tzinfo=UTC))
    _sweep(web_app, datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    web = web_app.test_client()
    sign_in(web, acme.owner)
    overdue = [k for k in _kinds(web_app) if k[0] == "cooperation.overdue"]
    assert sorted(overdue) == sorted([("cooperation.overdue", "dpo@tenantry.localhost"),
                                      ("cooperation.overdue", "staff"),
                                      ("cooperation.overdue", acme.owner.email)])
    assert rows(web_app, CooperationRequest)[0]["overdue_flagged_at"] == datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
    # Flagged on both sides.
    assert "overdue" in text(web.get(f"/t/acme/cooperation/{req['id']}"))
    assert "overdue" in text(web.get("/t/acme/cooperation"))
    staff = web_app.test_client()
    sign_in(staff, dpo)
    assert "overdue" in text(staff.get("/admin/cooperation"))
    staff_page = text(staff.get(f"/admin/cooperation/{req['id']}"))
    assert "is overdue" in staff_page and "sent" in staff_page

    # The late answer still goes through and reaches the tenant.
    assert staff.post(f"/admin/cooperation/{req['id']}", data={"answer": "Export attached to ticket."}).status_code == 302
    assert rows(web_app, CooperationRequest)[0]["answered_at"] is not None
    assert any("answered" in str(m["Subject"]) for m in outbox.to(acme.owner.email))


@pytest.mark.obligation("DPA-3.2")
def test_the_processor_asks_the_tenant_and_an_answer_stops_the_reminders(web_app, web, time_machine):
    time_machine.move_to(OPENED, tick=False)
    acme = new_tenant(web_app, "acme")
    staff = web_app.test_client()
    sign_in(staff, new_staff(web_app, "dpo"))
    response = staff.post("/admin/cooperation", data={
        "tenant": str(acme.id), "topic": "authority", "subject": "Authority question",
        "details": "The authority asks which purposes you process contact data for."})
    assert response.status_code == 302
    [req] = rows(web_app, CooperationRequest)
    assert req["direction"] == "to-controller" and req["due_at"] == datetime(2026, 11, 9, 10, 0, tzinfo=UTC)
    [told] = notices(web_app, "cooperation.opened")
    assert told["user_id"] == acme.owner.id and told["requires_ack"]

    sign_in(web, acme.owner)
    # The side that asked cannot answer its own request.
    assert staff.post(f"/admin/cooperation/{req['id']}", data={"answer": "x"}).status_code == 422
    time_machine.move_to(datetime(2026, 10, 23, 10, 10, tzinfo=UTC), tick=False)
    assert web.post(f"/t/acme/cooperation/{req['id']}", data={"answer": "Only customer care."}).status_code == 302
    _sweep(web_app, datetime(2026, 11, 20, 0, 0, tzinfo=UTC))
    assert _kinds(web_app) == [("cooperation.answered", "dpo@tenantry.localhost"), ("cooperation.answered", "staff")]
    assert "answered" in text(web.get("/t/acme/cooperation"))


def test_a_request_needs_a_topic_and_details(web_app, web, time_machine):
    time_machine.move_to(OPENED, tick=False)
    new = new_tenant(web_app, "acme")
    sign_in(web, new.owner)
    response = web.post("/t/acme/cooperation", data={"topic": "gossip", "subject": "", "details": ""})
    assert response.status_code == 422
    page = text(response)
    assert "Not a valid choice" in page and "Enter a subject." in page and "Enter the details." in page
    assert rows(web_app, CooperationRequest) == []


def test_another_tenants_request_is_404(web_app, web, time_machine):
    time_machine.move_to(OPENED, tick=False)
    acme, globex = new_tenant(web_app, "acme"), new_tenant(web_app, "globex")
    sign_in(web, acme.owner)
    web.post("/t/acme/cooperation", data={"topic": "dpia", "subject": "DPIA", "details": "Help with a DPIA."})
    [req] = rows(web_app, CooperationRequest)
    other = web_app.test_client()
    sign_in(other, globex.owner)
    assert other.get(f"/t/globex/cooperation/{req['id']}").status_code == 404
    assert other.post(f"/t/globex/cooperation/{req['id']}", data={"answer": "x"}).status_code == 404
