"""The audit trail pages of a workspace [DPA-B.logging, DPA-B.monitoring, TT-activity-log]: reads
and changes of a contact in the trail, the sealed old and new values shown to owners and admins
only (the raw table holds no plaintext), the filters, a record's history, the formula-safe CSV,
roles and other tenants, 30+ days of history, and the per-tenant retention setting."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, audit_checkpoints, audit_retention, cron
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.audit_views import CSV_HEADER
from tests import factories
from tests.identity.support import T0, field_errors, in_app, new_member, new_tenant, sign_in, text, who

pytestmark = pytest.mark.usefixtures("frozen")

JANA = {"first_name": "Jana", "last_name": "Nováková", "emails": "jana.novakova@example.com",
        "phones": "", "address": "", "company": "", "position": "Buyer", "notes": "Met at the fair", "tags": ""}
CANARY_OLD = "canary-old-5f3e1d"
CANARY_NEW = "canary-new-8a2b7c"


# --- helpers ---------------------------------------------------------------------------------


def _client(app, person):
    client = app.test_client()
    sign_in(client, person)
    return client


def _new_contact(client, slug: str = "acme", **fields) -> str:
    response = client.post(f"/t/{slug}/crm/contacts/new", data={**JANA, **fields})
    assert response.status_code == 302, text(response)[:500]
    match = re.search(r"/crm/contacts/([0-9a-f-]{36})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def _event_ids(html: str) -> list[int]:
    """The events a trail or history page lists, in order (each row links to its event page)."""
    ids = []
    for found in re.findall(r'href="/t/[^/"]+/audit/events/(\d+)"', html):
        if int(found) not in ids:
            ids.append(int(found))
    return ids


def _events(app, tenant_id, *actions: str) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        query = sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
        if actions:
            query = query.where(AuditEvent.action.in_(actions))
        return [{"id": e.id, "action": e.action, "actor_type": e.actor_type, "actor_id": e.actor_id,
                 "target_type": e.target_type, "target_id": e.target_id, "details": e.details,
                 "occurred_at": e.occurred_at}
                for e in db.session.execute(query).scalars()]


def _record(app, tenant_id, action: str, *, actor_id=None, target_type=None, target_id=None, changes=None,
            ids=None) -> int:
    """An event as the product records it, in the tenant's chain; returns its id."""
    with in_app(app):
        tenant = db.session.get(Tenant, tenant_id)
        actor = db.session.get(User, actor_id) if actor_id else None
        with tenant_context(tenant):
            if ids is not None:
                event = audit.record_read(action, target_type=target_type, target_ids=ids, actor=actor,
                                          tenant_id=tenant_id)
            else:
                event = audit.record(action, actor=actor, tenant_id=tenant_id, target_type=target_type,
                                     target_id=target_id, changes=changes)
            db.session.flush()
            event_id = event.id
    return event_id


def _raw_audit_rows(database) -> str:
    """Every audit_events row as the database stores it, as text (the sealed bytes included)."""
    engine = database.engine(owner=True)
    try:
        with engine.begin() as conn:
            if database.kind == "postgresql":
                conn.execute(sa.text("SELECT set_config('tenantry.all_tenants', 'on', true)"))
                rows = conn.execute(sa.text("SELECT t::text FROM audit_events t")).scalars().all()
                blobs = conn.execute(sa.text("SELECT changes FROM audit_events WHERE changes IS NOT NULL")).scalars()
                return "\n".join(rows) + "\n".join(bytes(b).decode("latin-1") for b in blobs)
            rows = conn.execute(sa.text("SELECT * FROM audit_events")).all()
            return "\n".join(
                " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row) for row in rows)
    finally:
        engine.dispose()


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


@pytest.fixture
def owner(web_app, acme):
    return _client(web_app, acme.owner)


# --- reads and changes in the trail ----------------------------------------------------------


@pytest.mark.obligation("DPA-B.monitoring", "DPA-B.logging", "TT-activity-log")
def test_a_csv_export_and_an_api_read_of_a_contact_are_in_its_history(web_app, acme, owner):
    from tests.tenants.api.conftest import Bearer, new_client, token_for

    jana = _new_contact(owner)
    bob = new_member(web_app, acme, email="bob@example.com")
    bob_client = _client(web_app, bob)
    assert bob_client.get("/t/acme/crm/contacts/export.csv").status_code == 200
    api = Bearer(web_app.test_client(), token_for(web_app.test_client(), new_client(web_app, acme, name="Sync")))
    assert api.get(f"/api/v1/contacts/{jana}").status_code == 200
    assert api.get("/api/v1/contacts").status_code == 200

    page = owner.get(f"/t/acme/audit/record/contact/{jana}")
    assert page.status_code == 200
    html = text(page)
    for action in ("crm.contacts.exported", "crm.contact.viewed", "crm.contact.listed", "crm.contact.created"):
        assert action in html
    assert "bob@example.com" in html  # who exported it
    assert "Sync" in html  # the API client that read it
    events = {e["action"]: e for e in _events(web_app, acme.id)}
    assert events["crm.contacts.exported"]["actor_id"] == str(bob.id)
    assert jana in events["crm.contacts.exported"]["details"]["ids"]
    assert events["crm.contact.viewed"]["actor_type"] == "api_client"
    assert _event_ids(html)[:3] == [e["id"] for e in reversed(_events(
        web_app, acme.id, "crm.contacts.exported", "crm.contact.viewed", "crm.contact.listed"))]


@pytest.mark.obligation("DPA-B.monitoring", "DPA-B.logging", "TT-activity-log")
@pytest.mark.parametrize("path", ["/t/acme/crm/contacts/{id}", "/t/acme/crm/contacts",
                                  "/t/acme/crm/contacts?q=Nov%C3%A1kov%C3%A1"],
                         ids=["detail", "list", "search"])
def test_reading_a_contact_in_the_web_pages_is_in_the_trail(web_app, acme, owner, path):
    jana = _new_contact(owner)
    bob = new_member(web_app, acme, email="bob@example.com")
    before = {e["id"] for e in _events(web_app, acme.id)}
    response = _client(web_app, bob).get(path.format(id=jana))
    assert response.status_code == 200 and "Nov" in text(response)
    reads = [e for e in _events(web_app, acme.id) if e["id"] not in before and e["actor_id"] == str(bob.id)
             and e["target_type"] == "contact"]
    assert reads, "the page showed a contact but the trail has no read event for it"
    assert any(jana in (e["details"] or {}).get("ids", []) for e in reads)
    assert _event_ids(text(owner.get(f"/t/acme/audit/record/contact/{jana}")))[0] == reads[-1]["id"]


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_an_edit_in_the_web_form_names_the_changed_fields(web_app, acme, owner):
    jana = _new_contact(owner)
    assert owner.post(f"/t/acme/crm/contacts/{jana}/edit",
                      data={**JANA, "notes": "Now a customer", "position": "CFO"}).status_code == 302
    [updated] = _events(web_app, acme.id, "crm.contact.updated")
    assert updated["details"]["fields"] == ["notes", "position"]
    html = text(owner.get(f"/t/acme/audit/events/{updated['id']}"))
    assert "Met at the fair" in html and "Now a customer" in html


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_an_admin_sees_the_old_and_new_values_while_the_table_holds_none_of_them(web_app, database, acme, owner):
    admin = new_member(web_app, acme, "admin")
    member = new_member(web_app, acme, "member")
    jana = str(uuid.uuid4())
    event_id = _record(web_app, acme.id, "crm.contact.updated", actor_id=acme.owner.id, target_type="contact",
                       target_id=jana, changes={"notes": (CANARY_OLD, CANARY_NEW), "position": (None, "CFO")})

    trail = text(owner.get("/t/acme/audit"))
    assert event_id in _event_ids(trail)
    assert "notes" in trail and "position" in trail  # names in the list
    assert CANARY_OLD not in trail and CANARY_NEW not in trail  # values only on the event page
    for client in (owner, _client(web_app, admin)):
        page = client.get(f"/t/acme/audit/events/{event_id}")
        assert page.status_code == 200
        html = text(page)
        assert CANARY_OLD in html and CANARY_NEW in html and "CFO" in html
        assert "not available" not in html
    assert _client(web_app, member).get(f"/t/acme/audit/events/{event_id}").status_code == 403

    raw = _raw_audit_rows(database)
    assert "crm.contact.updated" in raw and "notes" in raw  # the row is there, names readable
    assert CANARY_OLD not in raw and CANARY_NEW not in raw
    shown = _events(web_app, acme.id, "audit.viewed")
    assert any(e["details"].get("values_shown") for e in shown if e["target_id"] == str(event_id))


def test_an_event_whose_values_cannot_be_opened_still_shows_the_field_names(web_app, database, acme, owner):
    event_id = _record(web_app, acme.id, "crm.contact.updated", actor_id=acme.owner.id, target_type="contact",
                       target_id=str(uuid.uuid4()), changes={"notes": (CANARY_OLD, CANARY_NEW)})
    # A damaged value (written as the schema owner: the application role cannot change events).
    engine = database.engine(owner=True)
    try:
        with engine.begin() as conn:
            if database.kind == "postgresql":
                conn.execute(sa.text("SELECT set_config('tenantry.all_tenants', 'on', true)"))
            conn.execute(sa.text("UPDATE audit_events SET changes = :v WHERE id = :id"),
                         {"v": b"\x01garbage", "id": event_id})
    finally:
        engine.dispose()
    response = owner.get(f"/t/acme/audit/events/{event_id}")
    assert response.status_code == 200
    html = text(response)
    assert "notes" in html and "not available" in html and CANARY_OLD not in html


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_each_filter_narrows_the_trail(web_app, acme, owner, frozen):
    bob = new_member(web_app, acme, email="bob@example.com")
    carol = new_member(web_app, acme, email="carol@example.com")
    c1, c2 = str(uuid.uuid4()), str(uuid.uuid4())
    # 1 June 2026 11:00 Prague
    e_bob_c1 = _record(web_app, acme.id, "crm.contact.viewed", actor_id=bob.id, target_type="contact", ids=[c1])
    frozen.move_to(datetime(2026, 6, 10, 8, 0, tzinfo=UTC), tick=False)
    e_carol_c2 = _record(web_app, acme.id, "crm.contact.updated", actor_id=carol.id, target_type="contact",
                         target_id=c2, changes={"notes": ("a", "b")})
    e_bob_list = _record(web_app, acme.id, "crm.contact.listed", actor_id=bob.id, target_type="contact",
                         ids=[c1, c2])
    # 14 June 23:30 in Prague is still 14 June there; 15 June 00:30 is not.
    frozen.move_to(datetime(2026, 6, 14, 21, 30, tzinfo=UTC), tick=False)
    e_late_14 = _record(web_app, acme.id, "crm.company.viewed", actor_id=carol.id, target_type="company",
                        ids=[str(uuid.uuid4())])
    frozen.move_to(datetime(2026, 6, 14, 22, 30, tzinfo=UTC), tick=False)
    e_early_15 = _record(web_app, acme.id, "crm.contact.viewed", actor_id=carol.id, target_type="contact",
                         ids=[c2])
    frozen.move_to(datetime(2026, 6, 20, 9, 0, tzinfo=UTC), tick=False)
    owner = _client(web_app, acme.owner)
    mine = {e_bob_c1, e_carol_c2, e_bob_list, e_late_14, e_early_15}

    def shown(**query) -> set[int]:
        response = owner.get("/t/acme/audit", query_string=query)
        assert response.status_code == 200, (query, text(response)[:300])
        return set(_event_ids(text(response))) & mine

    assert shown() == mine
    assert shown(person=f"user:{bob.id}") == {e_bob_c1, e_bob_list}
    assert shown(person=f"user:{carol.id}") == {e_carol_c2, e_late_14, e_early_15}
    assert shown(record_type="contact", record_id=c1) == {e_bob_c1, e_bob_list}
    assert shown(record_type="contact", record_id=c2) == {e_carol_c2, e_bob_list, e_early_15}
    assert shown(record_type="company") == {e_late_14}
    assert shown(action="crm.contact.updated") == {e_carol_c2}
    assert shown(since="2026-06-02", until="2026-06-14") == {e_carol_c2, e_bob_list, e_late_14}
    assert shown(since="2026-06-15") == {e_early_15}
    assert shown(until="2026-06-01") == {e_bob_c1}
    assert shown(person=f"user:{carol.id}", record_type="contact", record_id=c2,
                 since="2026-06-15", until="2026-06-15") == {e_early_15}

    # Reading the trail is itself in the trail, with the filters used.
    viewed = _events(web_app, acme.id, "audit.viewed")
    assert any(e["details"]["filters"].get("actor_id") == str(bob.id) for e in viewed)


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_everything_by_a_support_person_or_a_removed_account_is_one_link_away(web_app, acme, owner):
    with in_app(web_app):
        staff = who(factories.make_staff("support", "helper@example.com"))
    with in_app(web_app):
        from tenantry.platform.identity.models import StaffUser

        with tenant_context(db.session.get(Tenant, acme.id)):
            by_staff = audit.record("support.page_viewed", actor=db.session.get(StaffUser, staff.id),
                                    tenant_id=acme.id, target_type="contact", target_id=str(uuid.uuid4()))
            db.session.flush()
            by_staff = by_staff.id
    gone = str(uuid.uuid4())
    with in_app(web_app):
        with tenant_context(db.session.get(Tenant, acme.id)):
            by_gone = audit.record("crm.contact.viewed", actor_type="user", tenant_id=acme.id,
                                   target_type="contact", target_id=str(uuid.uuid4()))
            by_gone.actor_id = gone  # an account removed since: its id stays in the trail
            db.session.flush()
            by_gone = by_gone.id
    page = text(owner.get(f"/t/acme/audit/events/{by_staff}"))
    assert "Support (Staff Person) — support access" in page
    link = re.search(r'href="(/t/acme/audit\?person=staff(?::|%3A)[0-9a-f-]{36})"', page)
    assert link, page
    response = owner.get(link.group(1))
    assert response.status_code == 200 and _event_ids(text(response)) == [by_staff]
    response = owner.get("/t/acme/audit", query_string={"person": f"user:{gone}"})
    assert response.status_code == 200 and _event_ids(text(response)) == [by_gone]
    assert "Former account" in text(response)


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"since": "2026-13-45"}, "since", "Enter the first day as YYYY-MM-DD."),
    ({"until": "yesterday"}, "until", "Enter the last day as YYYY-MM-DD."),
    ({"since": "2026-06-10", "until": "2026-06-01"}, "until", "The last day cannot be before the first day."),
    ({"since": "1900-01-01"}, "since", "Choose a day after 2000-01-01."),
    ({"person": "user:not a person!"}, "person", "Choose one from the list."),
    ({"person": "robot:1"}, "person", "Choose one from the list."),
    ({"person": "nobody"}, "person", "Choose one from the list."),
    ({"action": "<script>"}, "action", "Choose one from the list."),
    ({"record_id": "abc"}, "record_type", "Choose the type of the record too."),
    ({"record_type": "contact", "record_id": "x'; DROP TABLE"}, "record_id",
     "A record id is letters, digits and dashes only."),
    ({"record_type": "Contact!"}, "record_type", "Not a record type."),
])
def test_a_bad_filter_is_refused_next_to_its_field(web_app, acme, owner, query, field, message):
    for path in ("/t/acme/audit", "/t/acme/audit/export.csv"):
        response = owner.get(path, query_string=query)
        assert response.status_code == 422, (path, query)
        assert message in field_errors(text(response), field), field_errors(text(response), field)


@pytest.mark.parametrize("before", ["abc", "-5", "0", "99999999999999999999999"])
def test_a_bad_page_cursor_is_not_an_error(owner, before):
    assert owner.get("/t/acme/audit", query_string={"before": before}).status_code == 200


def test_the_trail_pages_by_seq_without_repeating_or_skipping(web_app, acme):
    for _ in range(55):
        _record(web_app, acme.id, "crm.contact.viewed", actor_id=acme.owner.id, target_type="contact",
                ids=[str(uuid.uuid4())])
    owner = _client(web_app, acme.owner)
    query = {"action": "crm.contact.viewed"}
    first = text(owner.get("/t/acme/audit", query_string=query))
    cursor = re.search(r'before=(\d+)[^"]*" rel="next"', first)
    assert cursor, "no link to older events"
    second = text(owner.get("/t/acme/audit", query_string={**query, "before": cursor.group(1)}))
    a, b = _event_ids(first), _event_ids(second)
    assert len(a) == 50 and len(b) == 5 and not set(a) & set(b)
    assert 'rel="next"' not in second


# --- a record's history ----------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_a_record_history_lists_who_saw_and_changed_it_and_nothing_else(web_app, acme, owner):
    bob = new_member(web_app, acme, email="bob@example.com")
    carol = new_member(web_app, acme, email="carol@example.com")
    jana, petr = str(uuid.uuid4()), str(uuid.uuid4())
    seen = _record(web_app, acme.id, "crm.contact.viewed", actor_id=bob.id, target_type="contact", ids=[jana])
    listed = _record(web_app, acme.id, "crm.contact.listed", actor_id=carol.id, target_type="contact",
                     ids=[petr, jana])
    changed = _record(web_app, acme.id, "crm.contact.updated", actor_id=carol.id, target_type="contact",
                      target_id=jana, changes={"phones": (["+420601234567"], None)})
    other = _record(web_app, acme.id, "crm.contact.viewed", actor_id=bob.id, target_type="contact", ids=[petr])
    company = _record(web_app, acme.id, "crm.company.viewed", actor_id=bob.id, target_type="company", ids=[jana])

    response = owner.get(f"/t/acme/audit/record/contact/{jana}")
    assert response.status_code == 200
    html = text(response)
    assert _event_ids(html) == [changed, listed, seen]
    assert other not in _event_ids(html) and company not in _event_ids(html)
    assert "bob@example.com" in html and "carol@example.com" in html
    assert "phones" in html and "+420601234567" not in html
    event_page = text(owner.get(f"/t/acme/audit/events/{listed}"))
    assert f"/t/acme/audit/record/contact/{jana}" in event_page  # each id read links to its history


@pytest.mark.parametrize("path", ["/t/acme/audit/record/contact/{unknown}", "/t/acme/audit/record/Contact/{unknown}",
                                  "/t/acme/audit/record/contact/a%20b", "/t/acme/audit/record/contact/" + "x" * 65,
                                  "/t/acme/audit/events/999999", "/t/acme/audit/events/abc",
                                  "/t/acme/audit/events/99999999999999999999999",
                                  "/t/acme/audit/record/contact/x?before=99999999999999999999999"])
def test_unknown_records_and_events_are_404(owner, path):
    assert owner.get(path.format(unknown=uuid.uuid4())).status_code == 404


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.logging", "TT-activity-log")
def test_the_csv_has_the_header_and_the_rows_and_defuses_formulas(web_app, acme, owner):
    with in_app(web_app):
        tenant = db.session.get(Tenant, acme.id)
        mallory = who(factories.make_user("mallory@example.com", name="=HYPERLINK(\"http://evil.example\")"))
        factories.add_member(tenant, db.session.get(User, mallory.id), "member")
    jana = _new_contact(owner)
    mallory_client = _client(web_app, mallory)
    agent = "=cmd|' /C calc'!A0"
    assert mallory_client.get("/t/acme/crm/contacts/export.csv", headers={"User-Agent": agent}).status_code == 200

    response = owner.get("/t/acme/audit/export.csv", query_string={"record_type": "contact", "record_id": jana})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == CSV_HEADER
    by_action = {r[CSV_HEADER.index("action")]: dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]}
    assert set(by_action) == {"crm.contacts.exported", "crm.contact.created"}
    exported = by_action["crm.contacts.exported"]
    assert exported["actor type"] == "user" and exported["actor id"] == str(mallory.id)
    assert exported["actor"] == "'=HYPERLINK(\"http://evil.example\")"
    assert exported["user agent"] == "'" + agent
    assert jana in exported["records read"].split()
    assert exported["outcome"] == "success" and exported["IP address"] == "127.0.0.1"
    assert datetime.fromisoformat(exported["when (UTC)"]).utcoffset() == timedelta(0)
    for row in rows[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)
    assert "Jana" not in body and "Nováková" not in body  # ids, never the contact's data
    [done] = _events(web_app, acme.id, "audit.exported")
    assert done["details"]["rows"] == 2 and done["details"]["filters"]["record_id"] == jana


# --- who may read it -------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.access-control", "TT-least-privilege")
@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_are_refused_every_trail_page(web_app, acme, role):
    event_id = _record(web_app, acme.id, "crm.contact.viewed", actor_id=acme.owner.id, target_type="contact",
                       ids=[str(uuid.uuid4())])
    person = _client(web_app, new_member(web_app, acme, role))
    for path in ("/t/acme/audit", "/t/acme/audit/export.csv", f"/t/acme/audit/events/{event_id}",
                 "/t/acme/audit/record/contact/x", "/t/acme/audit/retention"):
        assert person.get(path).status_code == 403, path
    assert person.post("/t/acme/audit/retention", data={"days": "30"}).status_code == 403
    assert b"/t/acme/audit" not in person.get("/t/acme/").data  # no link in the navigation


@pytest.mark.obligation("DPA-B.access-control")
def test_another_tenants_events_and_records_are_404(web_app, acme, owner):
    beta = new_tenant(web_app, "beta")
    theirs = str(uuid.uuid4())
    their_event = _record(web_app, beta.id, "crm.contact.viewed", actor_id=beta.owner.id, target_type="contact",
                          ids=[theirs])
    assert owner.get(f"/t/acme/audit/events/{their_event}").status_code == 404
    assert owner.get(f"/t/acme/audit/record/contact/{theirs}").status_code == 404
    assert their_event not in _event_ids(text(owner.get("/t/acme/audit")))
    assert theirs not in owner.get("/t/acme/audit/export.csv").get_data(as_text=True)
    assert owner.get(f"/t/beta/audit/events/{their_event}").status_code == 404  # not a member there


def test_a_signed_out_visitor_is_sent_to_sign_in(web_app, acme):
    response = web_app.test_client().get("/t/acme/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- how far back ----------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.logging")
def test_events_30_days_back_remain_after_the_sweeps_even_at_the_shortest_retention(web_app, acme, frozen):
    bob = new_member(web_app, acme, email="bob@example.com")
    jana = str(uuid.uuid4())
    with in_app(web_app):
        db.session.get(Tenant, acme.id).audit_retention_days = 30
    first = _record(web_app, acme.id, "crm.contact.viewed", actor_id=bob.id, target_type="contact", ids=[jana])
    changed = _record(web_app, acme.id, "crm.contact.updated", actor_id=bob.id, target_type="contact",
                      target_id=jana, changes={"notes": (CANARY_OLD, CANARY_NEW)})
    # Checkpoints and the whole sweep (retention included) run every day for 30 days.
    for day in range(30):
        frozen.move_to(T0 + timedelta(days=day, hours=1), tick=False)
        with in_app(web_app):
            audit_checkpoints.run(force=True)
            cron.sweep()
    frozen.move_to(T0 + timedelta(days=30) - timedelta(minutes=1), tick=False)
    with in_app(web_app):
        audit_retention.run()
    owner = _client(web_app, acme.owner)
    html = text(owner.get(f"/t/acme/audit/record/contact/{jana}"))
    assert _event_ids(html) == [changed, first]
    assert CANARY_NEW in text(owner.get(f"/t/acme/audit/events/{changed}"))
    assert "kept for 30 days" in text(owner.get("/t/acme/audit"))


@pytest.mark.obligation("DPA-B.logging")
def test_by_default_events_are_kept_400_days(web_app, acme, frozen):
    event_id = _record(web_app, acme.id, "crm.contact.viewed", actor_id=acme.owner.id, target_type="contact",
                       ids=[str(uuid.uuid4())])
    with in_app(web_app, commit=False):
        assert db.session.get(Tenant, acme.id).audit_retention_days == 400
    frozen.move_to(T0 + timedelta(days=399, hours=23), tick=False)
    with in_app(web_app):
        audit_checkpoints.run(force=True)
        audit_retention.run()
    owner = _client(web_app, acme.owner)
    page = text(owner.get("/t/acme/audit"))
    assert event_id in _event_ids(page) and "kept for 400 days" in page


# --- retention setting -----------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.logging")
def test_an_owner_sets_the_retention_and_below_30_days_is_refused(web_app, acme, owner):
    page = owner.get("/t/acme/audit/retention")
    assert page.status_code == 200 and 'value="400"' in text(page)
    for bad, message in (("29", "Keep audit events between 30 and 3650 days."),
                         ("0", "Keep audit events between 30 and 3650 days."),
                         ("-30", "Keep audit events between 30 and 3650 days."),
                         ("3651", "Keep audit events between 30 and 3650 days."),
                         ("thirty", "Enter a whole number of days."),
                         ("", "Enter a whole number of days."),
                         ("9" * 30, "Keep audit events between 30 and 3650 days.")):
        response = owner.post("/t/acme/audit/retention", data={"days": bad})
        assert response.status_code == 422, bad
        assert field_errors(text(response), "days") == [message], (bad, field_errors(text(response), "days"))
    with in_app(web_app, commit=False):
        assert db.session.get(Tenant, acme.id).audit_retention_days == 400
    assert _events(web_app, acme.id, "audit.retention_changed") == []

    response = owner.post("/t/acme/audit/retention", data={"days": "30"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/t/acme/audit/retention")
    with in_app(web_app, commit=False):
        assert db.session.get(Tenant, acme.id).audit_retention_days == 30
    [changed] = _events(web_app, acme.id, "audit.retention_changed")
    assert changed["details"] == {"audit_retention_days": {"from": 400, "to": 30}}
    assert changed["actor_id"] == str(acme.owner.id)
    assert owner.post("/t/acme/audit/retention", data={"days": "30"}).status_code == 302
    assert len(_events(web_app, acme.id, "audit.retention_changed")) == 1  # no change, no event
    assert "kept for 30 days" in text(owner.get("/t/acme/audit"))


def test_only_owners_open_and_change_the_retention(web_app, acme):
    owner = _client(web_app, acme.owner)
    assert 'href="/t/acme/audit/retention"' in text(owner.get("/t/acme/audit"))
    admin = _client(web_app, new_member(web_app, acme, "admin"))
    assert 'href="/t/acme/audit/retention"' not in text(admin.get("/t/acme/audit"))
    assert admin.get("/t/acme/audit/retention").status_code == 403
    assert admin.post("/t/acme/audit/retention", data={"days": "60"}).status_code == 403
    with in_app(web_app, commit=False):
        assert db.session.get(Tenant, acme.id).audit_retention_days == 400


@pytest.mark.obligation("DPA-B.logging")
def test_the_database_refuses_a_retention_below_30_days(web_app, acme):
    with in_app(web_app, commit=False):
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(Tenant).where(Tenant.id == acme.id).values(audit_retention_days=29))
            db.session.commit()
        db.session.rollback()
    with in_app(web_app, commit=False):
        assert db.session.get(Tenant, acme.id).audit_retention_days == 400


@pytest.mark.parametrize(("code", "label"), [
    ("crm.contact.created", "Contact created"), ("auth.password.changed", "Password changed"),
    ("api_client.token_issued", "API client token issued"), ("dsr.request.viewed", "Data subject request viewed"),
    ("membership.invited", "Member invited"), ("tenant.cancelled", "Workspace cancelled"),
    ("crm.import", "Import"), ("audit.viewed", "Audit trail viewed")])
def test_an_action_reads_as_words_beside_its_code(code, label):
    from tenantry.tenants.audit_trail import action_label

    assert action_label(code) == label
