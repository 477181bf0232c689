"""Settings > Retention: owners and admins keep the rules (members and viewers are refused), an
enabled rule is saved only after its preview, bad input is refused next to its field with nothing
saved, another tenant's rule answers 404, and the sweep's runs show on the page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tenantry.tenants.crm.models import Contact
from tenantry.tenants.retention.models import RetentionRule
from tests.identity.support import T0, field_errors, in_app, login_password, new_member, new_tenant, text
from tests.tenants.retention import support as s

pytestmark = pytest.mark.usefixtures("frozen")

BASE = "/t/acme/settings/retention"


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme")


def _client(web_app, acme, role: str | None):
    client = web_app.test_client()
    email = acme.owner.email if role is None else new_member(web_app, acme, role).email
    assert login_password(client, email).status_code == 302
    return client


@pytest.fixture
def admin(web_app, acme):
    return _client(web_app, acme, "admin")


def _rules(app) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        return [{"id": r.id, "condition": r.condition, "entity": r.entity, "months": r.months, "action": r.action,
                 "enabled": r.enabled}
                for r in db.session.execute(sa.select(RetentionRule).order_by(RetentionRule.created_at)).scalars()]


def _form(**overrides) -> dict:
    return {"condition": "contact_inactive", "months": "6", "action": "delete", **overrides}


@pytest.mark.obligation("TT-retention", "TT-least-privilege", "DPA-B.permissions")
@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_are_refused(web_app, acme, role):
    rule_id = s.rule(web_app, acme, "contact_inactive", 6, "delete", enabled=False)
    client = _client(web_app, acme, role)
    for path in (BASE, f"{BASE}/new", f"{BASE}/{rule_id}"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"{BASE}/new", data=_form(save="Save rule")).status_code == 403
    assert client.post(f"{BASE}/{rule_id}", data=_form(months="1", save="Save rule")).status_code == 403
    assert client.post(f"{BASE}/{rule_id}/delete").status_code == 403
    assert [r["months"] for r in _rules(web_app)] == [6]
    assert "Retention</a>" not in text(client.get("/t/acme/"))


@pytest.mark.obligation("TT-retention", "DPA-B.permissions")
@pytest.mark.parametrize("role", ["admin", None])
def test_admins_and_owners_see_the_page_and_its_nav_entry(web_app, acme, role):
    client = _client(web_app, acme, role)
    page = text(client.get(BASE))
    assert "Retention rules" in page and "No retention rules" in page and "No runs yet" in page
    assert f'href="{BASE}"' in text(client.get("/t/acme/"))


@pytest.mark.obligation("TT-retention")
def test_an_enabled_rule_is_saved_only_after_its_preview(web_app, frozen, acme):
    jana = s.contact(web_app, acme, first="Jana", last="Nováková")
    s.contact(web_app, acme, first="Petr", last="Svoboda")
    s.at(frozen, T0 + timedelta(days=200))
    s.contact(web_app, acme, first="Fresh", last="Face")
    admin = _client(web_app, acme, "admin")

    response = admin.post(f"{BASE}/new", data=_form(enabled="y", save="Save rule"))
    assert response.status_code == 422  # not saved: the preview comes first
    assert _rules(web_app) == []
    page = text(response)
    assert field_errors(page, "enabled") and "would" in page
    assert "Jana Nováková" in page and "Petr Svoboda" in page and "Fresh Face" not in page
    assert "delete 2 contacts" in page
    assert 'name="previewed" type="hidden" value="contact_inactive:6:delete"' in page

    response = admin.post(f"{BASE}/new", data=_form(enabled="y", save="Save rule",
                                                    previewed="contact_inactive:6:delete"))
    assert response.status_code == 302 and response.headers["Location"].endswith(BASE)
    [saved] = _rules(web_app)
    assert saved == {"id": saved["id"], "condition": "contact_inactive", "entity": "contact", "months": 6,
                     "action": "delete", "enabled": True}
    [created] = s.events(web_app, "retention.rule.created")
    assert created["details"]["months"] == 6 and created["actor_type"] == "user"
    # The names shown were a read of personal data, recorded with the ids only.
    reads = s.events(web_app, "retention.previewed")
    assert reads and str(jana) in reads[0]["details"]["ids"]
    assert "Jana" not in repr(reads)
    index = text(admin.get(BASE))
    assert "Contacts with no activity for 6 months" in index and "2 contacts" in index


@pytest.mark.obligation("TT-retention")
def test_the_preview_button_shows_without_saving_and_a_disabled_rule_needs_none(web_app, frozen, acme):
    s.contact(web_app, acme)
    s.at(frozen, T0 + timedelta(days=40))
    admin = _client(web_app, acme, "admin")
    response = admin.post(f"{BASE}/new", data=_form(months="1", action="anonymise", preview="Preview"))
    assert response.status_code == 200
    assert "anonymise 1 contact</strong>" in text(response)
    assert _rules(web_app) == []
    response = admin.post(f"{BASE}/new", data=_form(months="1", action="anonymise", save="Save rule"))
    assert response.status_code == 302
    assert [(r["enabled"], r["action"]) for r in _rules(web_app)] == [(False, "anonymise")]


@pytest.mark.obligation("TT-retention")
@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"months": "0"}, "months", "from 1 to 240"),
    ({"months": "241"}, "months", "from 1 to 240"),
    ({"months": "-3"}, "months", "from 1 to 240"),
    ({"months": "six"}, "months", ""),
    ({"months": ""}, "months", ""),
    ({"months": "99999999999999999999999"}, "months", "from 1 to 240"),
    ({"condition": "everything"}, "condition", ""),
    ({"condition": ""}, "condition", ""),
    ({"action": "shred"}, "action", ""),
    ({"action": ""}, "action", ""),
])
def test_bad_input_is_refused_next_to_its_field(web_app, acme, admin, overrides, field, message):
    for button in ({"save": "Save rule"}, {"preview": "Preview"}):
        response = admin.post(f"{BASE}/new", data=_form(**overrides, **button))
        assert response.status_code == 422
        errors = field_errors(text(response), field)
        assert errors and message in " ".join(errors)
    assert _rules(web_app) == []


def test_the_same_rule_twice_is_refused_next_to_the_rule(web_app, acme, admin):
    s.rule(web_app, acme, "contact_inactive", 24, "delete", enabled=False)
    response = admin.post(f"{BASE}/new", data=_form(months="12", save="Save rule"))
    assert response.status_code == 422
    assert "already has this rule" in " ".join(field_errors(text(response), "condition"))
    assert admin.post(f"{BASE}/new", data=_form(action="anonymise", save="Save rule")).status_code == 302
    assert len(_rules(web_app)) == 2


@pytest.mark.obligation("TT-retention")
def test_edit_and_remove_a_rule(web_app, acme, admin):
    rule_id = s.rule(web_app, acme, "deal_closed", 12, "anonymise", enabled=False)
    page = text(admin.get(f"{BASE}/{rule_id}"))
    assert 'value="12"' in page and "Edit retention rule" in page
    response = admin.post(f"{BASE}/{rule_id}", data={"condition": "deal_closed", "months": "18",
                                                     "action": "anonymise", "save": "Save rule"})
    assert response.status_code == 302
    assert [r["months"] for r in _rules(web_app)] == [18]
    [changed] = s.events(web_app, "retention.rule.updated")
    assert changed["details"]["from"]["months"] == 12 and changed["details"]["to"]["months"] == 18
    # Enabling it needs the preview of these settings first.
    assert 'id="previewed" name="previewed" type="hidden" value=""' in text(admin.get(f"{BASE}/{rule_id}"))
    assert admin.post(f"{BASE}/{rule_id}", data={"condition": "deal_closed", "months": "18", "action": "anonymise",
                                                "enabled": "y", "save": "Save rule"}).status_code == 422
    assert admin.post(f"{BASE}/{rule_id}", data={"condition": "deal_closed", "months": "18", "action": "anonymise",
                                                "enabled": "y", "save": "Save rule",
                                                "previewed": "deal_closed:18:anonymise"}).status_code == 302
    assert [r["enabled"] for r in _rules(web_app)] == [True]
    # Saving an enabled rule again with its settings unchanged needs no new preview.
    assert admin.post(f"{BASE}/{rule_id}", data={"condition": "deal_closed", "months": "18", "action": "anonymise",
                                                "enabled": "y", "save": "Save rule"}).status_code == 302
    assert admin.post(f"{BASE}/{rule_id}", data={"condition": "deal_closed", "months": "17", "action": "anonymise",
                                                "enabled": "y", "save": "Save rule"}).status_code == 422
    assert [r["months"] for r in _rules(web_app)] == [18]
    assert admin.post(f"{BASE}/{rule_id}/delete").status_code == 302
    assert _rules(web_app) == []
    assert s.events(web_app, "retention.rule.deleted")[0]["target_id"] == str(rule_id)
    assert admin.get(f"{BASE}/{rule_id}").status_code == 404
    assert admin.get(f"{BASE}/{uuid.uuid4()}").status_code == 404
    assert admin.get(f"{BASE}/not-a-uuid").status_code == 404


@pytest.mark.obligation("TT-retention", "DPA-B.access-control")
def test_another_tenants_rule_answers_404(web_app, acme):
    other = new_tenant(web_app, "other")
    theirs = s.rule(web_app, other, "contact_inactive", 6, "delete")
    client = _client(web_app, acme, None)
    for method, path in (("GET", f"{BASE}/{theirs}"), ("POST", f"{BASE}/{theirs}"),
                         ("POST", f"{BASE}/{theirs}/delete")):
        assert client.open(path, method=method, data=_form(save="Save rule")).status_code == 404
    assert client.get(f"/t/other/settings/retention/{theirs}").status_code == 404
    assert [r["months"] for r in _rules(web_app)] == [6]
    assert str(theirs) not in text(client.get(BASE))


@pytest.mark.obligation("TT-retention")
def test_the_run_history_shows_on_the_page(web_app, frozen, acme):
    for i in range(3):
        s.contact(web_app, acme, first=f"Gone{i}")
    s.rule(web_app, acme, "contact_inactive", 6, "delete")
    s.rule(web_app, acme, "contact_inactive", 3, "anonymise")
    when = T0.replace(month=12)
    s.at(frozen, when)
    assert s.run_sweep(web_app, when) == 3
    page = text(_client(web_app, acme, "admin").get(BASE))
    assert "Run history" in page and "2026-12-01 09:00" in page
    assert "Deleted 3 contacts: Contacts with no activity for 6 months" in page
    assert "0 contacts" in page  # nothing due any more under either rule
    assert s.ids_of(web_app, Contact) == set()


def test_the_forms_need_their_csrf_token(make_app):
    from tests.factories import PASSWORD
    from tests.identity.test_web_security import _csrf, _post_forms

    app = make_app()  # CSRF on
    new_tenant(app, "acme")
    client = app.test_client()
    [login] = _post_forms(text(client.get("/login")))
    client.post("/login", data={"email": "owner-acme@example.com", "password": PASSWORD, "csrf_token": _csrf(login)})
    assert client.post(f"{BASE}/new", data=_form(save="Save rule")).status_code == 400
    assert _rules(app) == []
    [form] = [f for f in _post_forms(text(client.get(f"{BASE}/new"))) if f["action"] is None]
    assert client.post(f"{BASE}/new", data=_form(save="Save rule", csrf_token=_csrf(form))).status_code == 302
    rule_id = _rules(app)[0]["id"]
    [remove] = [f for f in _post_forms(text(client.get(BASE))) if (f["action"] or "").endswith("/delete")]
    assert client.post(f"{BASE}/{rule_id}/delete").status_code == 400
    assert client.post(remove["action"], data={"csrf_token": _csrf(remove)}).status_code == 302
    assert _rules(app) == []


@pytest.mark.obligation("ROPA-controller", "TT-retention")
def test_enabled_rules_are_in_the_record_of_processing(web_app, acme):
    from tenantry.dpa.duties import ropa
    from tenantry.platform.tenancy import Tenant, tenant_context
    from tenantry.tenants.retention import service

    with in_app(web_app):
        tenant = db.session.get(Tenant, acme.id)
        with tenant_context(tenant):
            service.create(service.RuleData("contact_inactive", 24, "anonymise", enabled=True))
            service.create(service.RuleData("activity_created", 36, "delete", enabled=False))
    with in_app(web_app, commit=False):
        tenant = db.session.get(Tenant, acme.id)
        with tenant_context(tenant):
            rows = ropa.build(tenant)["retention"]
    rules = {r["data"]: r["rule"] for r in rows}
    assert rules["Contacts with no activity for 24 months"] == "anonymised by the daily sweep (tenant's rule)"
    assert not any(key.startswith("Activities recorded") for key in rules), "a disabled rule is not in force"
    assert rules["Backups"].startswith("daily, each kept 30 days")
