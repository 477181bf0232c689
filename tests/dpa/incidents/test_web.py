"""The DPO desk and the tenant's incident pages, through the test client."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents.models import Incident, IncidentEntry
from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tests import factories
from tests.identity.support import who


@pytest.fixture
def scene(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        acme = factories.make_tenant("acme", privacy_contact_email="privacy@acme.example")
        other = factories.make_tenant("other")
        dpo = factories.make_staff("dpo")
        admin = factories.make_staff("platform-admin")
        support = factories.make_staff("support")
        refs = {"acme": acme.id, "other": other.id, "acme_owner": who(acme._test_owner),
                "other_owner": who(other._test_owner), "dpo": who(dpo), "admin": who(admin),
                "support": who(support)}
        db.session.commit()
        return refs


def _client(app, principal):
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, principal)
    return client


def _form(scene, **overrides):
    aware = (clock.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "title": "=HYPERLINK(\"http://evil\")", "detected_at": aware, "aware_at": aware,
        "nature": ["confidentiality", "integrity"], "systems": "CRM database replica",
        "subject_categories": "contacts", "subjects_approx": "500", "record_categories": "e-mail addresses",
        "records_approx": "800", "consequences": "Phishing", "measures_taken": "Replica removed",
        "measures_proposed": "Access reviews", "contact": "DPO <dpo@tenantry.localhost>",
        "severity_dpc": "2", "severity_ei": "0.75", "severity_cb": "0.5",
        "severity_justification": "Behavioural data, identifiable.", "scope": "chosen",
        "tenants": [str(scene["acme"])],
    }
    data.update(overrides)
    return data


@pytest.mark.obligation("DPA-8.4")
@pytest.mark.obligation("DPA-4.3.6", "TEK-breach-content")
def test_dpo_logs_and_notifies_owners_and_privacy_contact_with_art_33_content(app, scene, outbox):
    dpo = _client(app, scene["dpo"])
    assert dpo.get("/admin/incidents/").status_code == 200
    response = dpo.post("/admin/incidents/new", data=_form(scene))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    incident_url = response.headers["Location"]
    with app.app_context():
        incident = db.session.execute(sa.select(Incident)).scalar_one()
        assert incident.severity_score == 2.0 and incident.severity == "medium"
        assert incident.nature == ["confidentiality", "integrity"]
    page = dpo.get(incident_url).get_data(as_text=True)
    assert "Notify 1 tenant" in page and "not yet notified" in page
    assert dpo.post(incident_url + "/notify").status_code == 302
    mails = {str(m["To"]): m for m in outbox.messages()}
    assert set(mails) == {scene["acme_owner"].email, "privacy@acme.example"}
    body = mails["privacy@acme.example"].get_content()
    for part in ("Nature of the breach: loss of confidentiality, integrity", "about 500", "about 800",
                 "Likely consequences: Phishing", "Measures taken: Replica removed", "Contact point: DPO",
                 "Severity (ENISA method): medium"):
        assert part in body
    page = dpo.get(incident_url).get_data(as_text=True)
    assert "first notice" in page and "sent" in page and "Notify 1 tenant" not in page
    with app.app_context():
        in_app = db.session.execute(sa.select(Notification).where(Notification.in_app.is_(True),
                                                                 Notification.kind == "incident.notice")).scalars().all()
        assert [(n.user_id, n.requires_ack) for n in in_app] == [(scene["acme_owner"].id, True)]
        actions = set(db.session.execute(sa.select(AuditEvent.action)).scalars())
        assert {"incident.logged", "incident.notice_sent"} <= actions


def test_bad_input_re_renders_with_errors_and_writes_nothing(app, scene):
    dpo = _client(app, scene["dpo"])
    later = (clock.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = dpo.post("/admin/incidents/new", data=_form(scene, detected_at=(clock.now() - timedelta(hours=1))
                                                            .strftime("%Y-%m-%dT%H:%M"), aware_at=later))
    assert response.status_code == 422
    assert "Awareness cannot come before detection." in response.get_data(as_text=True)
    response = dpo.post("/admin/incidents/new", data=_form(scene, nature=[], title=""))
    assert response.status_code == 422
    response = dpo.post("/admin/incidents/new", data=_form(scene, severity_justification=""))
    assert response.status_code == 422 and "Say why" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Incident)).scalar_one() == 0


@pytest.mark.obligation("TT-least-privilege")
def test_platform_admin_sees_the_desk_but_only_the_dpo_acts_and_support_sees_nothing(app, scene):
    admin = _client(app, scene["admin"])
    assert admin.get("/admin/incidents/").status_code == 200
    assert admin.get("/admin/incidents/new").status_code == 403
    assert admin.post("/admin/incidents/new", data=_form(scene)).status_code == 403
    support = _client(app, scene["support"])
    assert support.get("/admin/incidents/").status_code == 403
    assert support.get("/admin/incidents/register.csv").status_code == 403
    owner = _client(app, scene["acme_owner"])
    assert owner.get("/admin/incidents/").status_code == 404


@pytest.mark.obligation("TEK-breach-authority")
@pytest.mark.obligation("DPA-4.3.7", "DPA-4.3.6")
def test_timeline_updates_authority_and_the_register_on_both_sides(app, scene, outbox):
    dpo = _client(app, scene["dpo"])
    url = dpo.post("/admin/incidents/new", data=_form(scene, tenants=[str(scene["acme"]), str(scene["other"])]
                                                    )).headers["Location"]
    dpo.post(url + "/notify")
    outbox.clear()
    assert dpo.post(url + "/entries", data={"kind": "plan", "body": "Rotate keys; review access."}).status_code == 302
    assert dpo.post(url + "/entries", data={"kind": "note", "body": "Internal: vendor ticket 4711."}).status_code == 302
    told = (clock.now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    assert dpo.post(url + "/entries", data={"kind": "authority", "body": "Told the ÚOOÚ.",
                                            "authority_notified_at": told,
                                            "authority_reference": "UOOU-2026-123"}).status_code == 302
    assert dpo.post(url + "/entries", data={"kind": "authority", "body": "x"}).status_code == 422
    assert dpo.post(url + "/updates", data={"body": "Phase 2: the replica held 800 rows."}).status_code == 302
    assert len(outbox.messages()) == 3  # both owners and acme's privacy contact
    with app.app_context():
        first = db.session.execute(sa.select(IncidentEntry).where(IncidentEntry.kind == "plan")).scalar_one()
    assert dpo.post(url + "/entries", data={"kind": "correction", "body": "The plan also covers backups."}
                    ).status_code == 302
    assert dpo.post(url + "/entries", data={"kind": "solution", "body": "Fixed."}).status_code == 302
    assert dpo.post(url + "/entries", data={"kind": "closed", "body": "Done."}).status_code == 302
    assert dpo.post(url + "/updates", data={"body": "more"}).status_code == 422
    with app.app_context():
        assert db.session.get(IncidentEntry, first.id).body == "Rotate keys; review access."

    staff_json = json.loads(dpo.get("/admin/incidents/register.json").get_data(as_text=True))
    [entry] = staff_json["incidents"]
    assert entry["authority_reference"] == "UOOU-2026-123" and entry["tenants_affected"] == 2
    assert "Internal: vendor ticket 4711." in [e["text"] for e in entry["timeline"]]
    rows = list(csv.DictReader(io.StringIO(dpo.get("/admin/incidents/register.csv").get_data(as_text=True))))
    assert rows[0]["title"] == "'=HYPERLINK(\"http://evil\")"  # no formula reaches a spreadsheet

    owner = _client(app, scene["acme_owner"])
    page = owner.get(url.replace("/admin/incidents", "/t/acme/incidents")).get_data(as_text=True)
    assert "Phase 2: the replica held 800 rows." in page and "UOOU-2026-123" in page
    assert "vendor ticket" not in page
    mine = json.loads(owner.get("/t/acme/incidents/export.json").get_data(as_text=True))["incidents"]
    assert len(mine) == 1 and mine[0]["tenants_affected"] == 1
    assert "Internal: vendor ticket 4711." not in [e["text"] for e in mine[0]["timeline"]]
    tenant_csv = owner.get("/t/acme/incidents/export.csv")
    assert tenant_csv.status_code == 200 and "'=HYPERLINK" in tenant_csv.get_data(as_text=True)


@pytest.mark.obligation("DPA-4.3.7", "DPA-4.3.6")
def test_a_tenant_sees_and_acknowledges_only_what_concerns_it(app, scene, time_machine):
    dpo = _client(app, scene["dpo"])
    url = dpo.post("/admin/incidents/new", data=_form(scene)).headers["Location"]
    dpo.post(url + "/notify")
    incident_id = url.rsplit("/", 1)[1]
    other = _client(app, scene["other_owner"])
    assert "No incidents concern" in other.get("/t/other/incidents").get_data(as_text=True)
    assert other.get(f"/t/other/incidents/{incident_id}").status_code == 404
    assert other.post(f"/t/other/incidents/{incident_id}/acknowledge").status_code == 404
    assert json.loads(other.get("/t/other/incidents/export.json").get_data(as_text=True))["incidents"] == []

    owner = _client(app, scene["acme_owner"])
    assert "needs your acknowledgement" in owner.get("/t/acme/").get_data(as_text=True)
    assert "needs acknowledgement" in owner.get("/t/acme/incidents").get_data(as_text=True)
    time_machine.move_to(clock.now() + timedelta(minutes=5), tick=False)
    assert owner.post(f"/t/acme/incidents/{incident_id}/acknowledge").status_code == 302
    assert "Read and acknowledge" not in owner.get("/t/acme/").get_data(as_text=True)
    with app.app_context():
        note = db.session.execute(sa.select(Notification).where(Notification.in_app.is_(True),
                                                               Notification.kind == "incident.notice")).scalar_one()
        assert note.acknowledged_by_user_id == scene["acme_owner"].id
        assert note.acknowledged_at == clock.now()
        assert "incident.acknowledged" in set(db.session.execute(sa.select(AuditEvent.action)).scalars())
    # The DPO desk shows the acknowledgement time in the recipient's row.
    assert clock.now().strftime("%Y-%m-%d %H:%M") in dpo.get(url).get_data(as_text=True).split("Tenants and notices")[1]


@pytest.mark.obligation("DPA-3.3", "DPA-8.4")
def test_a_tenant_reports_a_breach_to_the_processor_with_its_own_48_hour_clock(app, scene, outbox, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    owner = _client(app, scene["acme_owner"])
    aware = (clock.now() - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    form = {"title": "Laptop stolen", "detected_at": aware, "aware_at": aware, "nature": ["confidentiality"],
            "description": "A sales laptop with an export was stolen.", "contact": "privacy@acme.example"}
    bad = owner.post("/t/acme/incidents/report", data={**form, "nature": []})
    assert bad.status_code == 422 and "Choose at least one" in bad.get_data(as_text=True)
    response = owner.post("/t/acme/incidents/report", data=form)
    assert response.status_code == 302
    reported = clock.now()
    with app.app_context():
        incident = db.session.execute(sa.select(Incident)).scalar_one()
        assert incident.source == "tenant" and incident.reported_by_tenant_id == scene["acme"]
        assert incident.aware_at == reported and incident.notify_due_at == reported + timedelta(hours=48)
    [mail] = outbox.to("dpo@tenantry.localhost")
    assert "Breach reported by Acme" in mail["Subject"]
    desk = _client(app, scene["dpo"]).get("/admin/incidents/").get_data(as_text=True)
    assert "Laptop stolen" in desk and "tenant report" in desk
    assert "Laptop stolen" in owner.get("/t/acme/incidents").get_data(as_text=True)
    assert "Laptop stolen" not in _client(app, scene["other_owner"]).get("/t/other/incidents").get_data(as_text=True)
