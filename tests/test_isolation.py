"""Tenant isolation: every route under /t/<slug>/, taken from the URL map so that routes added
later are covered, answers 404 to a member of another tenant, on both databases."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity.models import Invitation
from tenantry.platform.tenancy import tenant_context, tenant_owned_tables
from tests import factories


# How to make one object of tenant A for each URL parameter a tenant route may take. A route
# with a parameter missing here fails the suite: register the new object type when adding it.
def _membership(tenant):
    return factories.add_member(tenant, role="member").id


def _invitation(tenant):
    with tenant_context(tenant):
        inv = Invitation(email="invitee@example.com", role="member", token_hash=uuid.uuid4().hex,
                         expires_at=factories_now_plus_days(3))
        db.session.add(inv)
        db.session.flush()
        return inv.id


def factories_now_plus_days(days: int):
    from datetime import timedelta

    from tenantry.platform import clock

    return clock.now() + timedelta(days=days)


def _notice(tenant):
    from tenantry.platform import notify

    with tenant_context(tenant):
        note = notify.create("test.notice", recipient=tenant._test_owner, tenant_id=tenant.id, subject="Notice",
                             body="Body", in_app=True, email=False, requires_ack=True)
        db.session.flush()
        return note.id


def _area_factories() -> dict:
    """Each area registers its own objects in tests/<area>/isolation_objects.py as FACTORIES."""
    import importlib
    from pathlib import Path

    found = {}
    for path in sorted(Path(__file__).parent.rglob("isolation_objects.py")):
        module = ".".join(path.relative_to(Path(__file__).parent.parent).with_suffix("").parts)
        found.update(importlib.import_module(module).FACTORIES)
    return found


OBJECT_FACTORIES = {
    "membership_id": _membership,
    "invitation_id": _invitation,
    "notice_id": _notice,
    **_area_factories(),
}


def tenant_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/t/<slug>")), key=lambda r: r.rule)


def _fill(rule, slug: str, ids: dict[str, uuid.UUID]) -> str:
    def repl(match):
        name = match.group(2)
        if name == "slug":
            return slug
        return str(ids[name])

    return re.sub(r"<(?:([a-z_]+):)?([a-z_]+)>", repl, rule.rule)


def owner_of_every_object(app, slug: str):
    """A new tenant with one object for each parameter its routes take, and a client signed
    in as its owner (CSRF off): (client, slug, ids) for walking every route with _fill."""
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        tenant = factories.make_tenant(slug)
        params = {name for r in tenant_rules(app) for name in r.arguments if name != "slug"}
        ids = {name: OBJECT_FACTORIES[name](tenant) for name in params}
        db.session.commit()
        client = app.test_client()
        factories.sign_in(client, db.session.merge(tenant._test_owner))
    return client, slug, ids


@pytest.fixture
def two_tenants(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        a = factories.make_tenant("tenant-a")
        b = factories.make_tenant("tenant-b")
        params = {name for r in tenant_rules(app) for name in r.arguments if name != "slug"}
        missing = params - OBJECT_FACTORIES.keys()
        assert not missing, f"isolation suite has no factory for route parameters {sorted(missing)}"
        ids = {name: OBJECT_FACTORIES[name](a) for name in params}
        db.session.commit()
        yield {"a": a.slug, "b": b.slug, "ids": ids, "b_owner": b._test_owner}


@pytest.mark.obligation("DPA-4.5")
@pytest.mark.obligation("DPA-B.access-control")
def test_every_tenant_route_hides_another_tenants_objects(app, two_tenants):
    client = app.test_client()
    with app.app_context():
        owner_b = db.session.merge(two_tenants["b_owner"])
        factories.sign_in(client, owner_b)
    checked = 0
    for rule in tenant_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            # Tenant A's URL, as a member of B: the tenant itself is hidden.
            url = _fill(rule, two_tenants["a"], two_tenants["ids"])
            response = client.open(url, method=method)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            checked += 1
            if set(rule.arguments) - {"slug"}:
                # B's own URL with A's object ids: the object is hidden.
                url = _fill(rule, two_tenants["b"], two_tenants["ids"])
                response = client.open(url, method=method)
                assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
                checked += 1
    assert checked >= len(tenant_rules(app))


def test_objects_of_tenant_a_are_untouched_after_the_walk(app, two_tenants):
    client = app.test_client()
    with app.app_context():
        factories.sign_in(client, db.session.merge(two_tenants["b_owner"]))
    for rule in tenant_rules(app):
        if "POST" in rule.methods and set(rule.arguments) - {"slug"}:
            client.post(_fill(rule, two_tenants["b"], two_tenants["ids"]), data={"role": "owner"})
    with app.app_context():
        from tenantry.platform.identity.models import Membership
        from tenantry.platform.tenancy import all_tenants

        with all_tenants():
            member = db.session.get(Membership, two_tenants["ids"]["membership_id"])
            invitation = db.session.get(Invitation, two_tenants["ids"]["invitation_id"])
        assert member is not None and member.role == "member"
        assert invitation is not None and invitation.revoked_at is None


def test_unknown_tenant_is_404_even_signed_out(client):
    assert client.get("/t/no-such-tenant/").status_code == 404


@pytest.mark.obligation("DPA-B.access-control")
def test_every_tenant_owned_table_leads_with_tenant_id(app):
    with app.app_context():
        tables = tenant_owned_tables()
        assert {"memberships", "invitations", "agreement_acceptances"} <= {t.name for t in tables}
        for table in tables:
            assert table.c.tenant_id.nullable is False, table.name
            keys = [list(table.primary_key.columns)] + [
                list(c.columns) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
            ]
            assert any(cols and cols[0].name == "tenant_id" for cols in keys), (
                f"{table.name}: no primary or unique key leads with tenant_id"
            )
            for fk in table.foreign_key_constraints:
                target = fk.referred_table
                if target.name != "tenants" and "tenant_id" in target.c:
                    assert "tenant_id" in [c.name for c in fk.columns], (
                        f"{table.name} -> {target.name} must be a composite (tenant_id, ...) foreign key"
                    )
