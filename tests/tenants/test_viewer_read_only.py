"""A viewer reads and never writes: every POST under /t/<slug>/ answers 403, except leaving.

The routes are taken from the app's URL map, so routes added later are covered too. Their
uuid parameters are filled with real ids of the viewer's own tenant where a row exists
(`membership_id`: another member; `invitation_id`: a pending invitation; `<x>_id`: a row of a
tenant-owned table named after x), so a 403 is not a 404 in disguise.
"""

import uuid

import pytest
import sqlalchemy as sa
from werkzeug.routing import UUIDConverter

from tenantry.dpa.models import AgreementAcceptance
from tenantry.platform.db import db
from tenantry.platform.identity.models import Invitation, Membership
from tenantry.platform.tenancy import Tenant, TenantScoped, tenant_context
from tests.identity.support import (
    in_app,
    login_password,
    membership_id,
    new_member,
    new_tenant,
)

pytestmark = pytest.mark.obligation("DPA-B.permissions", "DPA-B.access-control", "TT-least-privilege")

PREFIX = "/t/<slug>/"

# A member acknowledges the notices addressed to them personally, whatever their role: these
# endpoints act only on the viewer's own notices (none here, so they answer 404 or a no-op).
# Their own morning e-mail of activities due is theirs to turn off too (no workspace data changes).
VIEWER_MAY_POST = {"notices.acknowledge", "incidents.acknowledge", "crm.reminder_setting"}


def _post_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX) and "POST" in r.methods),
                  key=lambda r: r.rule)


def _row_id_for(param: str, tenant_id) -> uuid.UUID | None:
    stem = param.removesuffix("_id")
    names = {stem + "s", stem + "es", stem.removesuffix("y") + "ies", stem}
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        if issubclass(cls, TenantScoped) and mapper.local_table.name in names and "id" in mapper.columns:
            found = db.session.execute(sa.select(cls.id).where(cls.tenant_id == tenant_id).limit(1)).scalar()
            if found is not None:
                return found
    return None


def _state(app, tenant):
    """What a viewer's POST must not change."""
    with in_app(app, commit=False):
        t = db.session.get(Tenant, tenant.id)
        with tenant_context(t):
            return {
                "policy": (t.require_2fa, t.password_min_length, t.password_max_age_days, t.privacy_contact_email),
                "members": sorted((str(m.user_id), m.role) for m in db.session.execute(sa.select(Membership)).scalars()),
                "invitations": sorted((i.email, i.role, i.revoked_at is None)
                                      for i in db.session.execute(sa.select(Invitation)).scalars()),
                "acceptances": db.session.execute(
                    sa.select(sa.func.count()).select_from(AgreementAcceptance)).scalar_one(),
            }


@pytest.fixture
def scene(web_app, outbox):
    tenant = new_tenant(web_app, "acme")
    viewer = new_member(web_app, tenant, "viewer")
    other = new_member(web_app, tenant, "member")
    owner = web_app.test_client()
    login_password(owner, tenant.owner.email)
    owner.post("/t/acme/members/invite", data={"email": "pending@example.com", "role": "member"})
    client = web_app.test_client()
    assert login_password(client, viewer.email).status_code == 302
    return tenant, viewer, other, client


def _url(app, rule, tenant, other) -> str:
    values = {"slug": tenant.slug}
    with in_app(app, commit=False):
        for name, converter in rule._converters.items():
            if name == "slug":
                continue
            if name == "membership_id":
                values[name] = membership_id(app, tenant, other)  # someone else: leaving is allowed
            elif isinstance(converter, UUIDConverter):
                with tenant_context(db.session.get(Tenant, tenant.id)):
                    values[name] = _row_id_for(name, tenant.id) or uuid.uuid4()
            elif type(converter).__name__ == "IntegerConverter":
                values[name] = 1
            else:
                values[name] = "x"
    return app.url_map.bind("localhost").build(rule.endpoint, values, method="POST")


def test_a_viewer_gets_403_on_every_post_under_the_tenant(web_app, scene):
    tenant, _viewer, other, client = scene
    rules = _post_rules(web_app)
    endpoints = {r.endpoint for r in rules}
    assert {"tenant.invite", "tenant.change_role", "tenant.remove_member", "tenant.revoke_invitation",
            "tenant.security_settings"} <= endpoints
    before = _state(web_app, tenant)

    answers = {}
    for rule in rules:
        url = _url(web_app, rule, tenant, other)
        form = {"email": "intruder@example.com", "role": "owner", "require_2fa": "y", "password_min_length": "8",
                "password_max_age_days": "1", "accept": "y", "name": "x", "confirm": "y"}
        answers[rule.endpoint] = (url, client.post(url, data=form).status_code)
    assert answers["tenant.change_role"][0].startswith("/t/acme/members/")

    wrong = {ep: a for ep, a in answers.items() if a[1] != 403 and ep not in VIEWER_MAY_POST}
    assert wrong == {}, f"a viewer's POST did not answer 403: {wrong}"
    assert _state(web_app, tenant) == before  # the personal exceptions did not change anything either
    assert client.get("/t/acme/").status_code == 200  # still a member: nothing was done


def test_a_viewer_can_leave(web_app, scene):
    tenant, viewer, _other, client = scene
    response = client.post(f"/t/acme/members/{membership_id(web_app, tenant, viewer)}/remove")
    assert response.status_code == 302
    assert client.get("/t/acme/").status_code == 404


def test_a_viewer_removing_someone_else_gets_403(web_app, scene):
    tenant, _viewer, other, client = scene
    assert client.post(f"/t/acme/members/{membership_id(web_app, tenant, other)}/remove").status_code == 403


def test_a_viewer_posting_to_the_agreement_gets_403(web_app, scene):
    _tenant, _viewer, _other, client = scene
    assert client.post("/t/acme/agreement", data={"accept": "y"}).status_code == 403
