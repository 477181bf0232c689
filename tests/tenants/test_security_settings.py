"""The tenant's security policy page: owners and admins set 2FA, password length and age [DPA-B.password]."""

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant
from tests.identity.support import (
    audit_events,
    field_errors,
    in_app,
    location,
    login_password,
    new_member,
    new_tenant,
    text,
)

pytestmark = pytest.mark.obligation("DPA-B.password")


def _policy(app, tenant):
    with in_app(app, commit=False):
        t = db.session.get(Tenant, tenant.id)
        return {"require_2fa": t.require_2fa, "password_min_length": t.password_min_length,
                "password_max_age_days": t.password_max_age_days, "privacy_contact_email": t.privacy_contact_email}


DEFAULT = {"require_2fa": False, "password_min_length": 12, "password_max_age_days": 0, "privacy_contact_email": None}


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.obligation("DPA-B.2fa")
def test_owners_and_admins_save_the_policy_and_it_is_audited(web_app, web, role):
    tenant = new_tenant(web_app)
    person = tenant.owner if role == "owner" else new_member(web_app, tenant, "admin")
    login_password(web, person.email)
    page = web.get(f"/t/{tenant.slug}/settings/security")
    assert page.status_code == 200 and 'value="12"' in text(page)

    response = web.post(f"/t/{tenant.slug}/settings/security", data={
        "require_2fa": "y", "password_min_length": "16", "password_max_age_days": "90",
        "privacy_contact_email": "Privacy@Example.com"})

    assert response.status_code == 302
    # The person has no 2FA yet, and the workspace now requires it: off to enrolment.
    assert location(response).startswith("/account/2fa/enrol")
    assert _policy(web_app, tenant) == {"require_2fa": True, "password_min_length": 16, "password_max_age_days": 90,
                                        "privacy_contact_email": "privacy@example.com"}
    [event] = audit_events(web_app, "tenant.policy-changed")
    assert event["actor_id"] == str(person.id) and event["tenant_id"] == tenant.id
    assert event["details"] == {
        "from": {"require_2fa": False, "password_min_length": 12, "password_max_age_days": 0},
        "to": {"require_2fa": True, "password_min_length": 16, "password_max_age_days": 90},
    }


def test_saving_without_2fa_required_stays_on_the_page(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    response = web.post(f"/t/{tenant.slug}/settings/security",
                        data={"password_min_length": "14", "password_max_age_days": ""})
    assert location(response) == f"/t/{tenant.slug}/settings/security"
    assert _policy(web_app, tenant) == {**DEFAULT, "password_min_length": 14}
    assert "Security policy saved." in text(web.get(location(response)))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("password_min_length", "7", "Between 8 and 128 characters."),
    ("password_min_length", "0", None),
    ("password_min_length", "-3", "Between 8 and 128 characters."),
    ("password_min_length", "129", "Between 8 and 128 characters."),
    ("password_min_length", "twelve", None),
    ("password_max_age_days", "-1", "Between 0 (never) and 3650 days."),
    ("password_max_age_days", "3651", "Between 0 (never) and 3650 days."),
])
def test_out_of_range_values_are_refused_next_to_the_field_and_nothing_is_saved(web_app, web, field, value, message):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    data = {"require_2fa": "y", "password_min_length": "16", "password_max_age_days": "30", field: value}

    response = web.post(f"/t/{tenant.slug}/settings/security", data=data)

    assert response.status_code == 422
    errors = field_errors(text(response), field)
    assert errors and (message is None or errors == [message])
    assert _policy(web_app, tenant) == DEFAULT
    assert audit_events(web_app, "tenant.policy-changed") == []


def test_a_new_minimum_applies_to_the_next_password_change(web_app, web):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    web.post(f"/t/{tenant.slug}/settings/security", data={"password_min_length": "20", "password_max_age_days": "0"})
    response = web.post("/account/password", data={"current": "velvet-orchard-quantum-41",
                                                   "password": "Zq8-vWm4-kT7xR2p-a1", "confirm": "Zq8-vWm4-kT7xR2p-a1"})
    assert response.status_code == 422
    assert field_errors(text(response), "password") == ["Use at least 20 characters."]


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_see_or_change_the_policy(web_app, web, role):
    tenant = new_tenant(web_app)
    person = new_member(web_app, tenant, role)
    login_password(web, person.email)
    assert web.get(f"/t/{tenant.slug}/settings/security").status_code == 403
    assert web.post(f"/t/{tenant.slug}/settings/security",
                    data={"password_min_length": "8", "password_max_age_days": "0"}).status_code == 403
    assert _policy(web_app, tenant) == DEFAULT
    assert "/settings/security" not in text(web.get(f"/t/{tenant.slug}/"))
