"""A tenant's own breach report is encrypted under its key: the database row holds no plaintext."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents.models import Incident
from tenantry.platform import clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tests import factories
from tests.identity.support import who

SECRETS = {"title": "Laptop of Jana Novakova stolen", "description": "Export of 310 patients left on the laptop",
           "systems": "Sales laptop LT-0042", "subject_categories": "patients of Dr Svoboda",
           "record_categories": "diagnoses and phone numbers", "consequences": "Disclosure of health data",
           "measures_taken": "Remote wipe requested", "measures_proposed": "Disk encryption everywhere",
           "contact": "jana.novakova@acme.example"}


@pytest.fixture
def reported(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        acme = factories.make_tenant("acme")
        dpo = factories.make_staff("dpo")
        refs = {"acme": acme.id, "owner": who(acme._test_owner), "dpo": who(dpo)}
        db.session.commit()
    owner = app.test_client()
    with app.app_context():
        factories.sign_in(owner, refs["owner"])
    aware = (clock.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = owner.post("/t/acme/incidents/report", data={
        **SECRETS, "detected_at": aware, "aware_at": aware, "nature": ["confidentiality"]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    refs["owner_client"], refs["url"] = owner, response.headers["Location"]
    return refs


@pytest.mark.obligation("TEK-breach-content", "DPA-3.3")
def test_the_raw_row_holds_none_of_the_tenants_text_and_both_sides_read_it(app, reported):
    with app.app_context():
        row = db.session.execute(sa.text("SELECT * FROM incidents")).mappings().one()
        raw = " ".join(str(bytes(v)) if isinstance(v, (bytes, memoryview)) else str(v) for v in row.values())
        for text in SECRETS.values():
            assert text not in raw
        assert "Novakova" not in raw and "patients" not in raw
        assert row["sealed_report"] is not None
        # Bound to the reporting tenant, table, column and row: another binding does not open it.
        with pytest.raises(fields.FieldDecryptError):
            fields.decrypt(row["sealed_report"], tenant_id=reported["acme"], table="incidents",
                           column="description", row_id=row["id"])
        incident = db.session.execute(sa.select(Incident)).scalar_one()
        assert incident.title == SECRETS["title"] and incident.contact == SECRETS["contact"]
        # Neither the DPO's notices about the report carry its text.
        notes = db.session.execute(sa.text("SELECT subject FROM notifications")).scalars().all()
        assert notes and all("Novakova" not in s for s in notes)
    tenant_page = reported["owner_client"].get(reported["url"]).get_data(as_text=True)
    assert SECRETS["description"] in tenant_page and SECRETS["title"] in tenant_page
    dpo = app.test_client()
    with app.app_context():
        factories.sign_in(dpo, reported["dpo"])
        incident_id = db.session.execute(sa.select(Incident.id)).scalar_one()
    desk = dpo.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    for key in ("title", "description", "systems", "consequences", "contact"):
        assert SECRETS[key] in desk
    export = dpo.get("/admin/incidents/register.json").get_data(as_text=True)
    assert SECRETS["measures_proposed"] in export


def test_a_shredded_tenant_key_leaves_the_report_unreadable_not_a_500(app, reported):
    from tenantry.platform.crypto import keyring

    with app.app_context():
        assert keyring.destroy(reported["acme"]) > 0
        db.session.commit()
        incident = db.session.execute(sa.select(Incident)).scalar_one()
        assert incident.title.startswith("[unreadable")
    dpo = app.test_client()
    with app.app_context():
        factories.sign_in(dpo, reported["dpo"])
    assert dpo.get("/admin/incidents/").status_code == 200
