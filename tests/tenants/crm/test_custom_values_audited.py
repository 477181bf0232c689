"""A contact's custom-field values are audited when they change, each from and to, as a change
of the contact [DPA-B.logging]: sealed under the workspace's key like every change, a value as
it was neither written again nor audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import contacts, custom_fields
from tests.identity.support import in_app
from tests.tenants.crm.conftest import opened_form, signed_in


def _custom_changes(web_app, acme, contact_id) -> list[tuple[str, dict]]:
    """(actor id, changes) of each audited change of the contact's custom values, oldest first."""
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        events = db.session.scalars(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action == "crm.contact.updated", audit.AuditEvent.target_id == str(contact_id))
            .order_by(audit.AuditEvent.id)).all()
        found = [(event.actor_id, audit.changes_of(event)) for event in events]
    return [(actor, changes) for actor, changes in found if any(k.startswith("custom_fields.") for k in changes)]


@pytest.mark.obligation("DPA-B.logging")
def test_a_custom_value_changed_on_the_contact_form_is_audited_from_and_to(web_app, acme):
    member = signed_in(web_app, acme, "member")
    with in_app(web_app), tenant_context(db.session.get(Tenant, acme.id)):
        custom_fields.create(custom_fields.DefinitionData(label="Segment", key="segment", type="choice",
                                                          options=["SMB", "Enterprise"], required=False,
                                                          special_category=False))
        custom_fields.create(custom_fields.DefinitionData(label="Shoe size", key="shoe", type="number", options=[],
                                                          required=False, special_category=False))
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková")).id
    path = f"/t/acme/crm/contacts/{jana}/edit"
    form = opened_form(member, path)
    assert member.post(path, data={**form, "cf_segment": "enterprise", "cf_shoe": "38"}).status_code == 302
    ((actor, changes),) = _custom_changes(web_app, acme, jana)
    assert changes == {"custom_fields.segment": (None, "Enterprise"), "custom_fields.shoe": (None, "38")}
    assert actor is not None
    # Saved again as it is: nothing to audit of the custom values.
    assert member.post(path, data=opened_form(member, path)).status_code == 302
    assert len(_custom_changes(web_app, acme, jana)) == 1
    # One changed, one cleared: only those.
    form = opened_form(member, path)
    assert member.post(path, data={**form, "cf_segment": "SMB", "cf_shoe": ""}).status_code == 302
    assert _custom_changes(web_app, acme, jana)[-1][1] == {"custom_fields.segment": ("Enterprise", "SMB"),
                                                           "custom_fields.shoe": ("38", None)}
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert {d.key: v for d in custom_fields.definitions()
                for k, v in custom_fields.values_of(jana).items() if k == d.id} == {"segment": "SMB"}
