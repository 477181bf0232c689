"""Least privilege for staff [TT-least-privilege]: every /admin route, taken from the URL map,
for each staff role, a tenant user and an anonymous visitor, against the table below.

A route added later is covered automatically: the test fails until its endpoint is in
ALLOWED, which forces a decision about who may open it.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tenantry.platform.db import db
from tests import factories

ADMIN, DPO, SUPPORT = "platform-admin", "dpo", "support"
ALL_STAFF = frozenset({ADMIN, DPO, SUPPORT})
ROLES = (ADMIN, DPO, SUPPORT)

# Endpoint or endpoint prefix (e.g. "admin_staff." for a whole blueprint; the longest match
# wins) -> staff roles allowed.
# "POST <endpoint>" overrides the entry for POST where a page is read by more roles than act on it.
ALLOWED: dict[str, frozenset[str]] = {
    "admin.dashboard": ALL_STAFF,
    "staff_notices.": ALL_STAFF,  # each person's own notice inbox
    "admin_tenants.index": frozenset({ADMIN, SUPPORT}),  # support: only tenants that granted them access
    "admin_tenants.show": frozenset({ADMIN}),
    "admin_staff.": frozenset({ADMIN}),
    "admin_jobs.": frozenset({ADMIN}),
    # The agreement and the subprocessor registry are public facts; only platform admins change them.
    "staff_registry.agreement": ALL_STAFF,
    "POST staff_registry.agreement": frozenset({ADMIN}),
    "staff_registry.subprocessors": ALL_STAFF,
    "staff_registry.subprocessor": ALL_STAFF,
    "staff_registry.propose": frozenset({ADMIN}),
    "staff_registry.resolve": frozenset({ADMIN}),
    "staff_registry.withdraw": frozenset({ADMIN}),
    "staff_registry.retire": frozenset({ADMIN}),
    "admin_duties.audit": frozenset({ADMIN, DPO}),
    # Platform admins read inspections and cooperation requests; only the DPO acts on them.
    "admin_duties.inspection": frozenset({ADMIN, DPO}),
    "POST admin_duties.inspection": frozenset({DPO}),
    "admin_duties.cooperation": frozenset({ADMIN, DPO}),
    "POST admin_duties.cooperation": frozenset({DPO}),
    "incident_desk.desk": frozenset({DPO, ADMIN}),
    "incident_desk.show": frozenset({DPO, ADMIN}),
    "incident_desk.register_": frozenset({DPO, ADMIN}),
    "incident_desk.new": frozenset({DPO}),
    "incident_desk.notify_tenants": frozenset({DPO}),
    "incident_desk.update": frozenset({DPO}),
    "incident_desk.entry": frozenset({DPO}),
    "security.index": frozenset({ADMIN, DPO}),
    "security.resolve_staff_alert": frozenset({ADMIN}),
    "special_categories.": frozenset({ADMIN, DPO}),  # explicit art. 9 agreements of tenants
    "lifecycle_admin.": frozenset({ADMIN}),  # cancellations, expedited deletion, backup-data requests
}

# Pages anyone may open (signing in).
PUBLIC = {"auth.staff_login"}


def _rule_key(endpoint: str, method: str) -> str | None:
    """The table entry for this route: "<METHOD> <endpoint prefix>" first, then "<endpoint prefix>"."""
    for prefix in (f"{method} ", ""):
        keys = [k for k in ALLOWED if k.startswith(prefix) and " " not in k[len(prefix):]
                and endpoint.startswith(k[len(prefix):])]
        if keys:
            return max(keys, key=len)
    return None


def admin_rules(app):
    return sorted((r for r in app.url_map.iter_rules()
                   if r.rule.startswith("/admin") and r.endpoint not in PUBLIC), key=lambda r: r.rule)


def _objects() -> dict[str, str]:
    """Real objects where a factory exists (so an allowed role gets 200), else a dummy id."""
    from tenantry.dpa.registry.models import Subprocessor
    from tests.test_isolation import OBJECT_FACTORIES

    tenant = factories.make_tenant("matrix")
    ids = {name: str(make(tenant)) for name, make in OBJECT_FACTORIES.items()
           if name in {"audit_id", "inspection_id", "cooperation_id", "incident_id"}}
    ids["tenant_id"] = str(tenant.id)
    ids["staff_id"] = str(factories.make_staff("support").id)
    sub = db.session.query(Subprocessor).first()
    if sub is not None:
        ids["subprocessor_id"] = str(sub.id)
    return ids


def _fill(rule, ids: dict[str, str]) -> str:
    def repl(match):
        converter, name = match.group(1), match.group(2)
        if name in ids:
            return ids[name]
        return str(uuid.uuid4()) if converter == "uuid" else "dummy"

    return re.sub(r"<(?:([a-z_]+):)?([a-z_]+)>", repl, rule.rule)


@pytest.fixture
def matrix(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        ids = _objects()
        people = {role: factories.make_staff(role) for role in ROLES}
        user = factories.make_user()
        db.session.commit()
        secrets = {role: p._test_secret for role, p in people.items()}
        people_ids = {role: p.id for role, p in people.items()}
        user_id = user.id
    return {"ids": ids, "secrets": secrets, "people": people_ids, "user": user_id}


def _client_for(app, matrix, who):
    from tenantry.platform.identity.models import StaffUser, User

    client = app.test_client()
    if who == "anonymous":
        return client
    with app.app_context():
        if who == "user":
            principal = db.session.get(User, matrix["user"])
        else:
            principal = db.session.get(StaffUser, matrix["people"][who])
            principal._test_secret = matrix["secrets"][who]
        factories.sign_in(client, principal)
    return client


def test_every_admin_route_is_in_the_role_table(app):
    missing = sorted({(r.endpoint, m) for r in admin_rules(app) for m in r.methods - {"HEAD", "OPTIONS"}
                      if _rule_key(r.endpoint, m) is None})
    assert not missing, (
        "These /admin routes are not in the role table of tests/admin/test_role_matrix.py: "
        f"{missing}. Add each endpoint to ALLOWED with the staff roles that may open it "
        "(and check the view with require_staff_role)."
    )


@pytest.mark.obligation("TT-least-privilege", "DPA-4.1")
@pytest.mark.parametrize("role", ROLES)
def test_each_staff_role_opens_exactly_the_pages_of_the_table(app, matrix, role):
    client = _client_for(app, matrix, role)
    problems = []
    for rule in admin_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            key = _rule_key(rule.endpoint, method)
            if key is None:
                continue  # reported by test_every_admin_route_is_in_the_role_table
            allowed = role in ALLOWED[key]
            if method != "GET" and allowed:
                continue  # an allowed action would act; the pages' own tests cover it
            url = _fill(rule, matrix["ids"])
            status = client.open(url, method=method).status_code
            if allowed and (status == 403 or (status != 200 and not rule.arguments)):
                problems.append(f"{role} should open {method} {url} ({rule.endpoint}) but got {status}")
            if not allowed and status not in (403, 404):
                problems.append(f"{role} must not open {method} {url} ({rule.endpoint}) but got {status}")
    assert not problems, "\n".join(problems)


@pytest.mark.obligation("TT-least-privilege", "DPA-4.1")
@pytest.mark.parametrize("who", ["user", "anonymous"])
def test_tenant_users_and_anonymous_visitors_open_no_admin_page(app, matrix, who):
    client = _client_for(app, matrix, who)
    for rule in admin_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = _fill(rule, matrix["ids"])
            response = client.open(url, method=method)
            if who == "anonymous":
                assert response.status_code in (302, 400), f"{method} {url}: {response.status_code}"
                if response.status_code == 302:
                    assert "/admin/login" in response.headers["Location"]
            else:
                assert response.status_code == 404, f"{method} {url}: {response.status_code}"
