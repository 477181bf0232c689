"""The account review of a workspace [TT-account-review]: who is inactive for 30 and 90 days
(never signed in counts from joining), who has no two-factor sign-in, how many owners and admins,
which API clients went unused for 90 days; one-click deactivation (the person no longer opens
the workspace, their history stays) and reactivation, the last owner kept, automatic
deactivation after N idle days, the monthly report stored once per tenant and month, and roles."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import cron, notify
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, Membership, User
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants import account_review
from tenantry.tenants.account_review import AccountReview, AccountReviewSettings
from tests.identity.support import (
    T0,
    TenantRef,
    Who,
    field_errors,
    in_app,
    membership_id,
    new_member,
    new_tenant,
    sign_in,
    text,
)

NOW = T0 + timedelta(days=200)  # 18 December 2026

pytestmark = pytest.mark.usefixtures("frozen")


# --- helpers ---------------------------------------------------------------------------------


def _client(app, person: Who):
    client = app.test_client()
    sign_in(client, person)
    return client


def _person(app, tenant: TenantRef, email: str, role: str = "member", *, last_login: timedelta | None = None,
            joined: timedelta | None = None, session_seen: timedelta | None = None, totp: bool = False) -> Who:
    """A member; times are how long before NOW they signed in / joined / last used a session."""
    person = new_member(app, tenant, role, email=email, with_totp=totp)
    with in_app(app), all_tenants():
        user = db.session.get(User, person.id)
        if last_login is not None:
            user.last_login_at = NOW - last_login
        if joined is not None:
            db.session.execute(sa.update(Membership).where(Membership.user_id == person.id)
                               .values(created_at=NOW - joined))
        if session_seen is not None:
            db.session.add(AuthSession(user_id=person.id, token_hash=secrets.token_hex(32),
                                       created_at=NOW - session_seen, last_seen_at=NOW - session_seen))
    return person


def _api_client(app, tenant: TenantRef, name: str, *, created: timedelta, used: timedelta | None = None,
                revoked: bool = False) -> uuid.UUID:
    from tenantry.tenants.api import clients

    with in_app(app):
        with tenant_context(db.session.get(Tenant, tenant.id)):
            client = clients.create(name, "crm:read").client
            client.created_at = NOW - created
            client.last_used_at = NOW - used if used is not None else None
            if revoked:
                client.revoked_at = NOW - timedelta(days=1)
            client_id = client.id
    return client_id


def _review(app, tenant: TenantRef, as_of: datetime = NOW) -> dict:
    with in_app(app, commit=False), tenant_context(db.session.get(Tenant, tenant.id)):
        r = account_review.review(as_of)
        email = lambda rows: sorted(m.user.email for m in rows)  # noqa: E731
        return {"long": email(r.inactive_long), "short": email(r.inactive_short), "no_2fa": email(r.without_2fa),
                "owners": r.owners, "admins": r.admins, "members": email(r.members),
                "deactivated": email(r.deactivated),
                "unused_clients": sorted(c.client.name for c in r.unused_clients),
                "idle": {m.user.email: m.idle_days for m in r.members}}


def _section(html: str, key: str) -> str:
    """The text of one card of the review page, by its heading id (long, short, tfa, clients, deact)."""
    start = html.index(f'id="{key}-h"')
    return html[start:html.index("</section>", start)]


def _deactivated(app, tenant: TenantRef, person: Who) -> bool:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(Membership.deactivated_at).where(
            Membership.tenant_id == tenant.id, Membership.user_id == person.id)).scalar_one() is not None


def _notes(app, kind: str) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        return [{"user_id": n.user_id, "tenant_id": n.tenant_id, "in_app": n.in_app, "subject": n.subject,
                 "to": n.to_email} for n in db.session.execute(
                    sa.select(notify.Notification).where(notify.Notification.kind == kind)
                    .order_by(notify.Notification.created_at, notify.Notification.to_email)).scalars()]


def _actions(app, tenant_id, action: str) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        return [{"actor_type": e.actor_type, "actor_id": e.actor_id, "target_id": e.target_id,
                 "details": e.details} for e in db.session.execute(
                    sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
                    .order_by(AuditEvent.seq)).scalars()]


def _sweep(app, as_of: datetime) -> dict:
    with in_app(app):
        return cron.sweep(as_of)


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


# --- who the review lists --------------------------------------------------------------------


@pytest.mark.obligation("TT-account-review")
def test_the_review_lists_exactly_who_is_inactive_around_the_30_and_90_day_boundaries(web_app, acme, frozen):
    day = timedelta(days=1)
    _person(web_app, acme, "d29@example.com", last_login=30 * day - timedelta(minutes=1))
    _person(web_app, acme, "d30@example.com", last_login=30 * day)
    _person(web_app, acme, "d89@example.com", last_login=90 * day - timedelta(minutes=1))
    _person(web_app, acme, "d90@example.com", last_login=90 * day)
    _person(web_app, acme, "never-old@example.com", joined=120 * day)
    _person(web_app, acme, "never-new@example.com", joined=29 * day)
    _person(web_app, acme, "never-45@example.com", joined=45 * day)
    # Signed in long ago but kept using the session: active.
    _person(web_app, acme, "session@example.com", last_login=150 * day, session_seen=2 * day)
    _person(web_app, acme, "admin-2fa@example.com", "admin", last_login=day, totp=True)
    _person(web_app, acme, "viewer@example.com", "viewer", last_login=91 * day, totp=True)
    _person(web_app, acme, "owner2@example.com", "owner", last_login=day, totp=True)
    frozen.move_to(NOW, tick=False)
    owner = _client(web_app, acme.owner)

    r = _review(web_app, acme)
    assert r["short"] == ["d30@example.com", "d89@example.com", "never-45@example.com"]
    assert r["long"] == ["d90@example.com", "never-old@example.com", "viewer@example.com"]
    assert r["idle"]["d29@example.com"] == 29 and r["idle"]["never-new@example.com"] == 29
    assert r["idle"]["never-old@example.com"] == 120 and r["idle"]["session@example.com"] == 2
    assert r["no_2fa"] == sorted(["d29@example.com", "d30@example.com", "d89@example.com", "d90@example.com",
                                  "never-old@example.com", "never-new@example.com", "never-45@example.com",
                                  "session@example.com", acme.owner.email])
    assert (r["owners"], r["admins"], len(r["members"])) == (2, 1, 12)

    page = owner.get("/t/acme/settings/account-review")
    assert page.status_code == 200
    html = text(page)
    long, short, tfa = _section(html, "long"), _section(html, "short"), _section(html, "tfa")
    for email in r["long"]:
        assert email in long and email not in short
    for email in r["short"]:
        assert email in short and email not in long
    for email in ("d29@example.com", "never-new@example.com", "session@example.com", "admin-2fa@example.com"):
        assert email not in long and email not in short
    assert "admin-2fa@example.com" not in tfa and "d29@example.com" in tfa
    assert "never" in long and "joined 2026-08-20" in long  # never signed in: counted from joining
    assert re.search(r"<dt>Owners</dt><dd>2", html) and re.search(r"<dt>Admins</dt><dd>1", html)
    assert _actions(web_app, acme.id, "account_review.viewed")


@pytest.mark.obligation("TT-account-review")
def test_api_clients_unused_for_90_days_are_listed_and_revoked_with_one_click(web_app, acme, frozen):
    day = timedelta(days=1)
    _api_client(web_app, acme, "Recent sync", created=300 * day, used=90 * day - timedelta(minutes=1))
    old = _api_client(web_app, acme, "Old sync", created=300 * day, used=90 * day)
    _api_client(web_app, acme, "Never used", created=91 * day)
    _api_client(web_app, acme, "New never used", created=10 * day)
    _api_client(web_app, acme, "Revoked", created=300 * day, revoked=True)
    frozen.move_to(NOW, tick=False)
    assert _review(web_app, acme)["unused_clients"] == ["Never used", "Old sync"]

    admin = _client(web_app, _person(web_app, acme, "admin@example.com", "admin"))
    page = admin.get("/t/acme/settings/account-review")
    assert page.status_code == 200
    clients = _section(text(page), "clients")
    assert "Old sync" in clients and "Never used" in clients and "never" in clients
    assert "Recent sync" not in clients and "New never used" not in clients and "Revoked" not in clients

    response = admin.post(f"/t/acme/settings/account-review/api-clients/{old}/revoke")
    assert response.status_code == 302
    assert _review(web_app, acme)["unused_clients"] == ["Never used"]
    [revoked] = _actions(web_app, acme.id, "api_client.revoked")
    assert revoked["target_id"] == str(old)
    assert admin.post(f"/t/acme/settings/account-review/api-clients/{uuid.uuid4()}/revoke").status_code == 404


# --- deactivation ----------------------------------------------------------------------------


@pytest.mark.obligation("TT-account-review")
def test_one_click_deactivation_locks_the_member_out_keeps_their_history_and_reactivation_restores(web_app, acme):
    bob = _person(web_app, acme, "bob@example.com", last_login=timedelta(days=100))
    bob_client = _client(web_app, bob)
    assert bob_client.get("/t/acme/crm/contacts/export.csv").status_code == 200
    owner = _client(web_app, acme.owner)
    bob_membership = membership_id(web_app, acme, bob)

    response = owner.post(f"/t/acme/settings/account-review/members/{bob_membership}/deactivate")
    assert response.status_code == 302 and response.headers["Location"].endswith("/t/acme/settings/account-review")
    assert _deactivated(web_app, acme, bob)
    page = text(owner.get("/t/acme/settings/account-review"))
    assert "bob@example.com" in _section(page, "deact") and "bob@example.com" not in _section(page, "long")
    assert "is deactivated and can no longer open this workspace" in page

    # Bob's own session no longer opens the workspace, page or API alike, nor does a new sign-in.
    for path in ("/t/acme/", "/t/acme/crm/contacts", "/t/acme/crm/contacts/export.csv"):
        assert bob_client.get(path).status_code == 404, path
    assert _client(web_app, bob).get("/t/acme/").status_code == 404

    # His history stays attributable to him.
    [event] = _actions(web_app, acme.id, "membership.deactivated")
    assert event["target_id"] == str(bob_membership) and event["actor_id"] == str(acme.owner.id)
    assert event["details"]["user_id"] == str(bob.id) and event["details"]["reason"] == "account-review"
    trail = text(owner.get("/t/acme/audit", query_string={"person": f"user:{bob.id}"}))
    assert "crm.contacts.exported" in trail and "bob@example.com" in trail

    response = owner.post(f"/t/acme/settings/account-review/members/{bob_membership}/reactivate")
    assert response.status_code == 302 and not _deactivated(web_app, acme, bob)
    assert bob_client.get("/t/acme/").status_code == 200
    assert _actions(web_app, acme.id, "membership.reactivated")[0]["target_id"] == str(bob_membership)
    # Twice is once: nothing more is recorded.
    owner.post(f"/t/acme/settings/account-review/members/{bob_membership}/reactivate")
    assert len(_actions(web_app, acme.id, "membership.reactivated")) == 1


@pytest.mark.obligation("TT-account-review")
def test_the_last_owner_stays_and_only_owners_deactivate_owners(web_app, acme):
    owner = _client(web_app, acme.owner)
    owner_membership = membership_id(web_app, acme, acme.owner)
    response = owner.post(f"/t/acme/settings/account-review/members/{owner_membership}/deactivate",
                          follow_redirects=True)
    assert response.status_code == 200
    assert "You cannot deactivate yourself." in text(response)
    assert not _deactivated(web_app, acme, acme.owner)

    admin = _client(web_app, _person(web_app, acme, "admin@example.com", "admin"))
    response = admin.post(f"/t/acme/settings/account-review/members/{owner_membership}/deactivate",
                          follow_redirects=True)
    assert "Only an owner can deactivate an owner." in text(response)
    assert not _deactivated(web_app, acme, acme.owner)

    # Nobody (not the sweep either) deactivates the last active owner.
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        target = account_review.get_membership(owner_membership)
        with pytest.raises(account_review.ReviewError, match="last active owner cannot be deactivated"):
            account_review.deactivate_member(None, target, reason="test")

    # With a second owner, one owner deactivates the other, and is then the last one.
    second = _person(web_app, acme, "second@example.com", "owner")
    second_membership = membership_id(web_app, acme, second)
    assert owner.post(f"/t/acme/settings/account-review/members/{second_membership}/deactivate").status_code == 302
    assert _deactivated(web_app, acme, second)
    assert _review(web_app, acme, datetime.now(UTC))["owners"] == 1
    assert _actions(web_app, acme.id, "membership.deactivated")[0]["details"]["role"] == "owner"


@pytest.mark.parametrize("target", ["unknown", "not-a-uuid", "other-tenant"])
def test_deactivating_someone_not_in_the_workspace_is_404(web_app, acme, target):
    beta = new_tenant(web_app, "beta")
    eve = new_member(web_app, beta, email="eve@example.com")
    path = {"unknown": str(uuid.uuid4()), "not-a-uuid": "abc",
            "other-tenant": str(membership_id(web_app, beta, eve))}[target]
    owner = _client(web_app, acme.owner)
    for action in ("deactivate", "reactivate"):
        assert owner.post(f"/t/acme/settings/account-review/members/{path}/{action}").status_code == 404
    assert not _deactivated(web_app, beta, eve)


# --- automatic deactivation ------------------------------------------------------------------


@pytest.mark.obligation("TT-account-review")
@pytest.mark.parametrize(("value", "message"), [
    ("29", "Choose between 30 and 3650 days, or leave it empty."),
    ("0", "Choose between 30 and 3650 days, or leave it empty."),
    ("-60", "Choose between 30 and 3650 days, or leave it empty."),
    ("3651", "Choose between 30 and 3650 days, or leave it empty."),
    ("9" * 40, "Choose between 30 and 3650 days, or leave it empty."),
    ("sixty", None),
    ("60.5", None),
])
def test_automatic_deactivation_below_30_days_or_not_a_number_is_refused_next_to_the_field(
        web_app, acme, value, message):
    owner = _client(web_app, acme.owner)
    response = owner.post("/t/acme/settings/account-review/auto-deactivation", data={"days": value})
    assert response.status_code == 422
    errors = field_errors(text(response), "days")
    assert errors and (message is None or errors == [message]), errors
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(AccountReviewSettings)).first() is None


@pytest.mark.obligation("TT-account-review")
def test_automatic_deactivation_takes_only_those_idle_n_days_and_tells_the_owners(web_app, acme, frozen, outbox):
    day = timedelta(days=1)
    owner = _client(web_app, acme.owner)
    response = owner.post("/t/acme/settings/account-review/auto-deactivation", data={"days": "60"})
    assert response.status_code == 302
    [changed] = _actions(web_app, acme.id, "account_review.settings-changed")
    assert changed["details"] == {"auto_deactivate_days": {"from": None, "to": 60}}
    assert "Members inactive for 60 days" in text(owner.get("/t/acme/settings/account-review"))

    stays = _person(web_app, acme, "d59@example.com", last_login=60 * day - timedelta(minutes=1))
    d60 = _person(web_app, acme, "d60@example.com", last_login=60 * day)
    d120 = _person(web_app, acme, "d120@example.com", "admin", last_login=120 * day)
    never = _person(web_app, acme, "never@example.com", "viewer", joined=61 * day)
    idle_owner = _person(web_app, acme, "idle-owner@example.com", "owner", last_login=100 * day)
    with in_app(web_app), all_tenants():
        db.session.get(User, acme.owner.id).last_login_at = NOW - 70 * day  # both owners idle
    beta = new_tenant(web_app, "beta")
    beta_idle = _person(web_app, beta, "beta-idle@example.com", last_login=300 * day)  # beta has it off
    outbox.clear()

    frozen.move_to(NOW, tick=False)
    result = _sweep(web_app, NOW)
    assert result["account-review.auto-deactivate"] == 4
    for person in (d60, d120, never):
        assert _deactivated(web_app, acme, person)
    assert not _deactivated(web_app, acme, stays) and not _deactivated(web_app, beta, beta_idle)
    # Of two idle owners one is deactivated and the other, now the last, stays.
    owners_left = [p for p in (acme.owner, idle_owner) if not _deactivated(web_app, acme, p)]
    assert len(owners_left) == 1
    events = _actions(web_app, acme.id, "membership.deactivated")
    assert len(events) == 4 and {e["actor_type"] for e in events} == {"system"}
    assert {e["details"]["reason"] for e in events} == {"auto-inactive"}
    assert sorted(e["details"]["inactive_days"] for e in events) == [60, 61, 100 if owners_left[0] == acme.owner
                                                                     else 70, 120]

    [told] = _notes(web_app, "account_review.auto-deactivated")
    assert told["user_id"] == owners_left[0].id and told["in_app"] and told["tenant_id"] == acme.id
    [mail] = [m for m in outbox.to(owners_left[0].email) if "deactivated" in m["Subject"]]
    body = mail.get_content()
    assert "4 inactive member(s) of Acme were deactivated" in mail["Subject"]
    for email in ("d60@example.com", "d120@example.com", "never@example.com"):
        assert email in body
    assert "d59@example.com" not in body and "/t/acme/settings/account-review" in body

    # The sweep run again has nobody left to deactivate and tells nobody again.
    assert _sweep(web_app, NOW + timedelta(seconds=30))["account-review.auto-deactivate"] == 0
    assert len(_notes(web_app, "account_review.auto-deactivated")) == 1

    # Turned off again, nobody more goes.
    owner = _client(web_app, owners_left[0])
    assert owner.post("/t/acme/settings/account-review/auto-deactivation", data={"days": ""}).status_code == 302
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.execute(sa.select(AccountReviewSettings.auto_deactivate_days)).scalar_one() is None
    frozen.move_to(NOW + 30 * day, tick=False)
    assert _sweep(web_app, NOW + 30 * day)["account-review.auto-deactivate"] == 0
    assert not _deactivated(web_app, acme, stays)


# --- the monthly report ----------------------------------------------------------------------


def _reports(app) -> list[tuple[uuid.UUID, str]]:
    with in_app(app, commit=False), all_tenants():
        return sorted((r.tenant_id, r.period) for r in db.session.execute(sa.select(AccountReview)).scalars())


@pytest.mark.obligation("TT-account-review")
def test_the_monthly_sweep_stores_one_report_per_tenant_and_month_and_tells_the_owners(web_app, acme, frozen,
                                                                                         outbox):
    idle = _person(web_app, acme, "idle@example.com")
    with in_app(web_app), all_tenants():
        db.session.get(User, idle.id).last_login_at = datetime(2026, 5, 20, tzinfo=UTC)  # 42 days on 1 July
    _person(web_app, acme, "admin@example.com", "admin")
    frozen.move_to(datetime(2026, 6, 20, 9, 0, tzinfo=UTC), tick=False)
    beta = new_tenant(web_app, "beta")
    outbox.clear()

    # The month a workspace was created has no report: every account in it is new.
    assert _sweep(web_app, datetime(2026, 6, 30, 23, 0, tzinfo=UTC))["account-review.monthly"] == 0
    july = datetime(2026, 7, 1, 0, 5, tzinfo=UTC)
    frozen.move_to(july, tick=False)
    assert _sweep(web_app, july)["account-review.monthly"] == 2
    assert _sweep(web_app, july + timedelta(hours=1))["account-review.monthly"] == 0
    assert _sweep(web_app, datetime(2026, 7, 31, 23, 0, tzinfo=UTC))["account-review.monthly"] == 0
    assert _reports(web_app) == sorted([(acme.id, "2026-07"), (beta.id, "2026-07")])

    told = _notes(web_app, "account_review.monthly")
    assert [(n["to"], n["in_app"]) for n in told] == sorted([(acme.owner.email, True), (beta.owner.email, True)])
    [mail] = outbox.to(acme.owner.email)
    assert mail["Subject"] == "Monthly account review of Acme (2026-07)"
    body = mail.get_content()
    assert "members inactive for 30 to 89 days: 1" in body and "owners: 1, admins: 1" in body
    assert "idle@example.com" not in body  # the e-mail has counts and a link, no names
    link = re.search(r"http://localhost(/t/acme/settings/account-review/reports/[0-9a-f-]{36})", body)
    assert link, body
    assert outbox.to("admin@example.com") == []

    owner = _client(web_app, acme.owner)
    page = owner.get(link.group(1))
    assert page.status_code == 200
    html = text(page)
    assert "Account review, 2026-07" in html and "idle@example.com" in html
    assert "2026-07" in text(owner.get("/t/acme/settings/account-review"))
    with in_app(web_app, commit=False), all_tenants():
        theirs = db.session.execute(sa.select(AccountReview.id).where(AccountReview.tenant_id == beta.id)).scalar_one()
        ours = db.session.execute(sa.select(AccountReview).where(AccountReview.tenant_id == acme.id)).scalar_one()
        assert ours.findings["inactive_30"] == [{"membership_id": str(membership_id(web_app, acme, idle)),
                                                  "idle_days": 42}]
        assert "idle@example.com" not in str(ours.findings)  # ids and day counts only
    assert owner.get(f"/t/acme/settings/account-review/reports/{theirs}").status_code == 404
    assert owner.get(f"/t/acme/settings/account-review/reports/{uuid.uuid4()}").status_code == 404
    assert owner.get("/t/acme/settings/account-review/reports/not-a-uuid").status_code == 404

    august = datetime(2026, 8, 1, 0, 5, tzinfo=UTC)
    frozen.move_to(august, tick=False)
    assert _sweep(web_app, august)["account-review.monthly"] == 2
    assert len(_reports(web_app)) == 4 and len(_notes(web_app, "account_review.monthly")) == 4
    assert _actions(web_app, acme.id, "account_review.generated")[-1]["details"] == {"period": "2026-08"}


def test_a_cancelled_workspace_gets_no_monthly_report(web_app, acme, frozen):
    with in_app(web_app):
        db.session.get(Tenant, acme.id).status = "cancelled"
    july = datetime(2026, 7, 1, 0, 5, tzinfo=UTC)
    frozen.move_to(july, tick=False)
    assert _sweep(web_app, july)["account-review.monthly"] == 0
    assert _reports(web_app) == []


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.obligation("TT-account-review", "TT-least-privilege")
@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_review_or_deactivate(web_app, acme, role):
    person = _person(web_app, acme, "p@example.com", role)
    other = _person(web_app, acme, "other@example.com")
    other_membership = membership_id(web_app, acme, other)
    client = _client(web_app, person)
    assert client.get("/t/acme/settings/account-review").status_code == 403
    assert client.get(f"/t/acme/settings/account-review/reports/{uuid.uuid4()}").status_code == 403
    for path in (f"members/{other_membership}/deactivate", f"members/{other_membership}/reactivate",
                 f"api-clients/{uuid.uuid4()}/revoke"):
        assert client.post(f"/t/acme/settings/account-review/{path}").status_code == 403, path
    assert client.post("/t/acme/settings/account-review/auto-deactivation", data={"days": "30"}).status_code == 403
    assert not _deactivated(web_app, acme, other)
    assert b"/settings/account-review" not in client.get("/t/acme/").data


@pytest.mark.obligation("TT-account-review")
def test_an_admin_deactivates_members_and_admins_but_not_owners(web_app, acme):
    admin = _client(web_app, _person(web_app, acme, "admin@example.com", "admin"))
    other_admin = _person(web_app, acme, "admin2@example.com", "admin")
    member = _person(web_app, acme, "m@example.com")
    for person in (other_admin, member):
        assert admin.post(f"/t/acme/settings/account-review/members/{membership_id(web_app, acme, person)}"
                          "/deactivate").status_code == 302
        assert _deactivated(web_app, acme, person)
    html = text(admin.get("/t/acme/settings/account-review"))
    owner_id = membership_id(web_app, acme, acme.owner)
    assert f"/members/{owner_id}/deactivate" not in html  # no button they could not use
