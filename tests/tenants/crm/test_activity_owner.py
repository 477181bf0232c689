"""Who an activity is assigned to: a new one is the member's own unless they choose another
member or nobody; the timeline, the activity list (with its "Assigned to" filter) and the CSV
export name them; an edit, or the list's change of the activities ticked, reassigns it,
audited; an id that is no member of this workspace is refused next to the field (the API:
tests/tenants/api/test_activity_owner.py)."""

from __future__ import annotations

import csv
import io
import uuid

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, contacts
from tenantry.tenants.crm.models import Activity
from tests.identity.support import field_errors, in_app, login_password, new_member, new_tenant, text


def _world(web_app, acme) -> dict:
    me = new_member(web_app, acme, "member", email="me@acme.example.com")
    olga = new_member(web_app, acme, "member", email="olga@acme.example.com")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id
    client = web_app.test_client()
    assert login_password(client, me.email).status_code == 302
    return {"me": me, "olga": olga, "jana": jana, "client": client}


def _activity(web_app, activity_id) -> Activity:
    with in_app(web_app, commit=False), all_tenants():
        found = db.session.get(Activity, activity_id)
        db.session.expunge(found)
        return found


def _only_activity(web_app) -> uuid.UUID:
    with in_app(web_app, commit=False), all_tenants():
        return db.session.scalars(sa.select(Activity.id)).one()


def test_a_new_activity_is_ones_own_unless_another_member_or_nobody_is_chosen(web_app, acme):
    w = _world(web_app, acme)
    member, page_path = w["client"], f"/t/acme/crm/contacts/{w['jana']}"
    page = text(member.get(page_path))
    assert '<label for="owner">Assigned to</label>' in page
    assert f'<option selected value="{w["me"].id}">' in page  # preselected: the member's own
    added = member.post(f"{page_path}/activities", data={"kind": "call", "owner": str(w["olga"].id),
                                                         "note": "Call back"})
    assert added.status_code == 302
    activity_id = _only_activity(web_app)
    assert _activity(web_app, activity_id).owner_id == w["olga"].id
    shown = text(member.get(page_path))
    assert '<span class="activity-owner">for ' in shown

    # An edit gives it to nobody; the change is audited.
    edit = f"/t/acme/crm/activities/{activity_id}/edit"
    form = text(member.get(edit))
    assert f'<option selected value="{w["olga"].id}">' in form
    version = _activity(web_app, activity_id).version
    saved = member.post(edit, data={"kind": "call", "owner": "", "note": "Call back", "version": str(version)})
    assert saved.status_code == 302
    assert _activity(web_app, activity_id).owner_id is None
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "crm.activity.updated")).one()
        assert audit.changes_of(event) == {"owner_id": (str(w["olga"].id), None)}


def test_someone_who_is_no_member_here_cannot_be_assigned(web_app, acme):
    w = _world(web_app, acme)
    other = new_tenant(web_app, "globex", country="CZ")
    stranger = new_member(web_app, other, "member", email="stranger@globex.example.com")
    refused = w["client"].post(f"/t/acme/crm/contacts/{w['jana']}/activities",
                               data={"kind": "call", "owner": str(stranger.id)})
    assert refused.status_code == 422 and field_errors(text(refused), "owner")
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.scalars(sa.select(Activity)).all() == []


def test_the_list_filters_by_who_it_is_assigned_to_and_the_export_names_them(web_app, acme):
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        for note, owner in (("Mine", w["me"].id), ("Olga's", w["olga"].id), ("Nobody's", None)):
            activities.create("contact", w["jana"], activities.ActivityData(kind="task", note=note, owner_id=owner))

    def notes(**args):
        html = text(w["client"].get("/t/acme/crm/activities", query_string=args))
        return sorted(n for n in ("Mine", "Olga's", "Nobody's") if n.replace("'", "&#39;") in html)

    assert notes() == ["Mine", "Nobody's", "Olga's"]
    assert notes(owner=str(w["me"].id)) == ["Mine"]
    assert notes(owner="nobody") == ["Nobody's"]
    assert notes(owner="not-an-id") == ["Mine", "Nobody's", "Olga's"]  # an odd value filters nothing
    page = text(w["client"].get("/t/acme/crm/activities", query_string={"owner": str(w["olga"].id)}))
    assert f'<option value="{w["olga"].id}" selected>' in page and '<option value="nobody">Nobody</option>' in page
    assert f"owner={w['olga'].id}" in page  # kept by the export link and the pager
    exported = w["client"].get("/t/acme/crm/activities/export.csv", query_string={"owner": str(w["olga"].id)})
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:7] == ["Kind", "Subject", "Subject type", "Due date", "Due time", "Assigned to", "Done"]
    assert len(rows) == 2 and rows[1][8] == "Olga's" and rows[1][5]


def test_the_activities_ticked_are_assigned_at_once(web_app, acme):
    w = _world(web_app, acme)
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        ids = [str(activities.create("contact", w["jana"], activities.ActivityData(kind="task", note=n)).id)
               for n in ("One", "Two")]
    page = text(w["client"].get("/t/acme/crm/activities"))
    assert '<label for="bulk-owner">Assigned to</label>' in page
    given = w["client"].post("/t/acme/crm/activities/bulk", data={"ids": ids, "action": "owner",
                                                                    "bulk_owner": str(w["olga"].id)})
    assert given.status_code == 302
    assert "2 activities given to" in text(w["client"].get(given.headers["Location"]))
    assert {_activity(web_app, uuid.UUID(i)).owner_id for i in ids} == {w["olga"].id}
    refused = w["client"].post("/t/acme/crm/activities/bulk", data={"ids": ids, "action": "owner", "bulk_owner": ""})
    assert refused.status_code == 422
    assert '<p class="error" id="bulk-owner-err" role="alert">Choose the new owner' in text(refused)
    nobody = w["client"].post("/t/acme/crm/activities/bulk", data={"ids": ids[:1], "action": "owner",
                                                                     "bulk_owner": "nobody"})
    assert "1 activity left without an owner (of 1 chosen)." in text(w["client"].get(nobody.headers["Location"]))
    assert _activity(web_app, uuid.UUID(ids[0])).owner_id is None
