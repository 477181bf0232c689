"""Special-category agreements in the console (/admin/special-categories, platform admins and the
DPO) [DPA-A.special, DPA-5.3]: recording an explicit agreement through the form is what lets
the tenant mark a custom field as special-category data, and revoking it stops such fields
taking values. Each change is in the tenant's audit chain as the staff member's; the pages show
no tenant personal data; bad input is refused next to its field with nothing written; support
staff are refused."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from tenantry.dpa.special_categories import SpecialCategoryAgreement
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import custom_fields
from tenantry.tenants.crm.custom_fields import CustomField
from tests import factories
from tests.admin.test_console_lifecycle import (
    CANARY,
    _count,
    assert_no_personal_data,
    chain_ok,
    signed_in,
    staff_events,
    staff_member,
)
from tests.identity.support import NO_LIMIT, T0, TenantRef, field_errors, in_app, text, who
from tests.tenants.lifecycle.lifecycle_support import add_contact

pytestmark = pytest.mark.usefixtures("console_app")

VALID = {"reference": "DPA annex 3 / 2026-117", "signed_by": "Dana Dvorakova, managing director",
         "signed_on": "2026-05-20", "categories": ["health", "union"],
         "scope": "Allergies of event guests, to plan catering; union membership for works-council invitations."}
FIELD = {"label": "Allergies", "key": "allergies", "type": "text", "special_category": "y"}


@pytest.fixture
def console_app(make_app, time_machine):
    time_machine.move_to(T0, tick=False)
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT)


@pytest.fixture
def world(console_app):
    app = console_app
    with in_app(app):
        owner = factories.make_user("owner-acme@example.com", name="Olga Ownerova")
        acme = factories.make_tenant("acme", owner=owner, name="Acme Trading")
        other = factories.make_tenant("other", name="Other Ltd")
        ids = {"acme": acme.id, "other": other.id, "owner": who(owner)}
    add_contact(app, TenantRef(ids["acme"], "acme", ids["owner"]), CANARY)
    return {"app": app, **ids}


def _agreements(app, tenant_id=None) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        query = sa.select(SpecialCategoryAgreement).order_by(SpecialCategoryAgreement.recorded_at)
        if tenant_id is not None:
            query = query.where(SpecialCategoryAgreement.tenant_id == tenant_id)
        return [{"id": a.id, "tenant_id": a.tenant_id, "reference": a.reference, "signed_by": a.signed_by,
                 "signed_on": a.signed_on, "categories": a.categories, "scope": a.scope,
                 "recorded_by": a.recorded_by_staff_id, "revoked_at": a.revoked_at, "reason": a.revocation_reason,
                 "revoked_by": a.revoked_by_staff_id} for a in db.session.execute(query).scalars()]


def _usable_fields(app, tenant_id) -> list[str]:
    with in_app(app, commit=False):
        with tenant_context(db.session.get(Tenant, tenant_id)):
            return [d.key for d in custom_fields.usable()]


@pytest.mark.obligation("DPA-A.special", "DPA-5.3", "DPA-4.1")
@pytest.mark.parametrize("role", ["platform-admin", "dpo"])
def test_an_agreement_recorded_in_the_console_lets_the_tenant_mark_a_special_category_field(world, role):
    app = world["app"]
    owner = signed_in(app, world["owner"])
    # Before: the tenant cannot mark a field as special-category data.
    refused = owner.post("/t/acme/settings/custom-fields", data=FIELD)
    assert refused.status_code == 422
    assert field_errors(text(refused), "special_category") == [custom_fields.SPECIAL_REFUSED]
    assert _count(app, CustomField) == 0

    person = staff_member(app, role)
    staff = signed_in(app, person)
    listing = text(staff.get("/admin/special-categories/"))
    assert "Acme Trading" in listing and "Other Ltd" in listing and "in force" not in listing
    assert_no_personal_data(listing)
    url = f"/admin/special-categories/{world['acme']}"
    page = text(staff.get(url))
    assert "No agreement recorded" in page
    assert_no_personal_data(page)

    response = staff.post(url, data={**VALID, "reference": "  DPA annex 3 / 2026-117 "})
    assert response.status_code == 302, text(response)[:1000]
    assert response.headers["Location"].endswith(url)
    [agreement] = _agreements(app)
    assert agreement == {**agreement, "tenant_id": world["acme"], "reference": "DPA annex 3 / 2026-117",
                         "signed_by": VALID["signed_by"], "signed_on": T0.date() - timedelta(days=12),
                         "categories": ["health", "union"], "scope": VALID["scope"], "recorded_by": person.id,
                         "revoked_at": None}
    shown = text(staff.get(url))
    assert "Agreement recorded: the tenant may now mark custom fields as special categories." in shown
    assert "in force" in shown and "Health, Trade union membership" in shown
    assert_no_personal_data(shown)
    assert "in force" in text(staff.get("/admin/special-categories/"))

    [event] = staff_events(app, world["acme"], "dpa.special_categories.recorded")
    assert (event.actor_type, event.actor_id) == ("staff", str(person.id))
    assert (event.target_type, event.target_id) == ("special_category_agreement", str(agreement["id"]))
    assert event.details == {"categories": ["health", "union"]}
    assert chain_ok(app, world["acme"])

    # After: the owner marks the field; the other tenant still cannot.
    marked = owner.post("/t/acme/settings/custom-fields", data=FIELD)
    assert marked.status_code == 302, text(marked)[:1000]
    with in_app(app, commit=False), all_tenants():
        field = db.session.execute(sa.select(CustomField)).scalar_one()
        assert (field.tenant_id, field.key, field.special_category) == (world["acme"], "allergies", True)
    assert _usable_fields(app, world["acme"]) == ["allergies"]
    with in_app(app):
        with tenant_context(db.session.get(Tenant, world["other"])):
            with pytest.raises(custom_fields.DefinitionError):
                custom_fields.create(custom_fields.DefinitionData(label="Allergies", key="allergies", type="text",
                                                                  options=[], required=False, special_category=True))
        db.session.rollback()


@pytest.mark.obligation("DPA-5.3")
@pytest.mark.obligation("DPA-A.special")
def test_revoking_the_agreement_stops_special_category_fields_taking_values(world):
    app = world["app"]
    person = staff_member(app, "dpo")
    staff = signed_in(app, person)
    url = f"/admin/special-categories/{world['acme']}"
    assert staff.post(url, data=VALID).status_code == 302
    [agreement] = _agreements(app)
    owner = signed_in(app, world["owner"])
    assert owner.post("/t/acme/settings/custom-fields", data=FIELD).status_code == 302
    prefix = f"r{agreement['id'].hex[:8]}"
    revoke_url = f"{url}/{agreement['id']}/revoke"

    refused = staff.post(revoke_url, data={f"{prefix}-reason": "  "})
    assert refused.status_code == 422
    assert field_errors(text(refused), f"{prefix}-reason") == ["Say why the agreement ends."]
    assert _agreements(app)[0]["revoked_at"] is None
    assert staff_events(app, world["acme"], "dpa.special_categories.revoked") == []

    response = staff.post(revoke_url, data={f"{prefix}-reason": "  The contract annex ended. "})
    assert response.status_code == 302
    [revoked] = _agreements(app)
    assert (revoked["revoked_at"], revoked["reason"], revoked["revoked_by"]) == (T0, "The contract annex ended.",
                                                                                person.id)
    page = text(staff.get(url))
    assert "Agreement revoked: special-category fields stop taking values, and the values they hold are withheld" \
        in unescape(page) and "revoked" in page
    assert_no_personal_data(page)
    [event] = staff_events(app, world["acme"], "dpa.special_categories.revoked")
    assert (event.actor_type, event.actor_id) == ("staff", str(person.id))
    assert chain_ok(app, world["acme"])
    assert _usable_fields(app, world["acme"]) == []
    # A second revocation changes nothing.
    assert staff.post(revoke_url, data={f"{prefix}-reason": "again"}).status_code == 302
    assert len(staff_events(app, world["acme"], "dpa.special_categories.revoked")) == 1


@pytest.mark.obligation("DPA-A.special", "DPA-5.3")
@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"reference": ""}, "reference", "Enter the agreement's reference, e.g. its contract number or file name."),
    ({"reference": "x" * 201}, "reference", "Field cannot be longer than 200 characters."),
    ({"signed_by": "   "}, "signed_by", "Enter who signed it for the tenant (name and role)."),
    ({"signed_on": ""}, "signed_on", "Enter the date it was signed (YYYY-MM-DD)."),
    ({"signed_on": "20.5.2026"}, "signed_on", "Enter the date it was signed (YYYY-MM-DD)."),
    ({"signed_on": "2026-06-02"}, "signed_on",
     "An agreement cannot be signed in the future: record it once it is signed."),
    ({"categories": []}, "categories", "Choose the special categories the agreement covers."),
    ({"categories": ["health", "tarot"]}, "categories", "'tarot' is not a valid choice for this field."),
    ({"scope": ""}, "scope", "Describe what the tenant may process and why."),
])
def test_a_bad_agreement_is_refused_next_to_its_field_and_nothing_is_written(world, changes, field, message):
    app = world["app"]
    staff = signed_in(app, staff_member(app, "platform-admin"))
    before = _count(app, AuditEvent)
    response = staff.post(f"/admin/special-categories/{world['acme']}", data={**VALID, **changes})
    assert response.status_code == 422
    html = text(response)
    assert message in [unescape(e) for e in field_errors(html, field)], field_errors(html, field)
    assert_no_personal_data(html)
    assert _agreements(app) == []
    assert _count(app, AuditEvent) == before


def test_unknown_tenants_and_agreements_answer_404(world):
    import uuid

    app = world["app"]
    staff = signed_in(app, staff_member(app, "dpo"))
    assert staff.get(f"/admin/special-categories/{uuid.uuid4()}").status_code == 404
    assert staff.post(f"/admin/special-categories/{uuid.uuid4()}", data=VALID).status_code == 404
    assert staff.post(f"/admin/special-categories/{world['acme']}/{uuid.uuid4()}/revoke",
                      data={"reason": "x"}).status_code == 404
    # Another tenant's agreement is not reachable under this tenant's address.
    assert staff.post(f"/admin/special-categories/{world['other']}", data=VALID).status_code == 302
    [theirs] = _agreements(app)
    prefix = f"r{theirs['id'].hex[:8]}"
    response = staff.post(f"/admin/special-categories/{world['acme']}/{theirs['id']}/revoke",
                          data={f"{prefix}-reason": "wrong tenant"})
    assert response.status_code == 404
    assert _agreements(app)[0]["revoked_at"] is None


@pytest.mark.obligation("TT-least-privilege", "DPA-4.1", "DPA-A.special")
def test_support_staff_and_tenant_users_can_neither_read_nor_record_agreements(world):
    app = world["app"]
    admin = signed_in(app, staff_member(app, "platform-admin"))
    assert admin.post(f"/admin/special-categories/{world['acme']}", data=VALID).status_code == 302
    [agreement] = _agreements(app)
    before = _count(app, AuditEvent, AuditEvent.action.like("dpa.special_categories.%"))
    support = signed_in(app, staff_member(app, "support"))
    prefix = f"r{agreement['id'].hex[:8]}"
    for method, url, data in (
        ("get", "/admin/special-categories/", None),
        ("get", f"/admin/special-categories/{world['acme']}", None),
        ("post", f"/admin/special-categories/{world['other']}", VALID),
        ("post", f"/admin/special-categories/{world['acme']}/{agreement['id']}/revoke", {f"{prefix}-reason": "x"}),
    ):
        response = getattr(support, method)(url, data=data)
        assert response.status_code == 403, (method, url, response.status_code)
        assert_no_personal_data(text(response))
    owner = signed_in(app, world["owner"])
    assert owner.get("/admin/special-categories/").status_code == 404
    assert owner.post(f"/admin/special-categories/{world['other']}", data=VALID).status_code == 404
    assert [a["revoked_at"] for a in _agreements(app)] == [None]
    assert _count(app, AuditEvent, AuditEvent.action.like("dpa.special_categories.%")) == before == 1
