"""The console's lifecycle page (/admin/lifecycle, platform admins): cancelled tenants counting
down to deletion, owners' requests for backed-up data fulfilled from a chosen backup, and early
deletion filed on an owner's written request. Each action goes through the web form, lands in
the tenant's audit chain as the staff member's, shows no tenant personal data, refuses bad
input next to its field without writing anything, and is refused to every other role."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import audit_chain, business_days
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.lifecycle import backup_requests, backups, cancellation
from tenantry.tenants.lifecycle.cancel_models import BackupDataRequest, DeletionRequest
from tenantry.tenants.lifecycle.export_models import Export
from tests import factories
from tests.identity.support import NO_LIMIT, T0, TenantRef, Who, field_errors, in_app, text, who
from tests.tenants.lifecycle.lifecycle_support import add_contact, tenant_row

# A contact's surname and e-mail, and the owner's e-mail and name: none may reach a console page.
CANARY = "Kanarkova"
CANARIES = (CANARY, CANARY.lower() + "@example.org", "owner-acme@example.com", "Olga Ownerova")


@pytest.fixture
def console_app(make_app, time_machine):
    time_machine.move_to(T0, tick=False)
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN=NO_LIMIT)


def staff_member(app, role: str) -> Who:
    with in_app(app):
        return who(factories.make_staff(role))


def signed_in(app, person: Who):
    """A client signed in as `person`; one sign-in per person and test (a TOTP code is never reused)."""
    client = app.test_client()
    factories.sign_in(client, person)
    return client


def assert_no_personal_data(html: str) -> None:
    for canary in CANARIES:
        assert canary not in html, f"the page shows {canary!r}"


def staff_events(app, tenant_id, action: str) -> list[AuditEvent]:
    with in_app(app, commit=False), all_tenants():
        rows = list(db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
            .order_by(AuditEvent.seq)).scalars())
        db.session.expunge_all()
        return rows


def chain_ok(app, tenant_id) -> bool:
    with in_app(app, commit=False), all_tenants():
        report = audit_chain.verify(AuditEvent, audit_chain.chain_of(tenant_id))
        assert report.ok, report.problem
        return report.checked > 0


def _count(app, model, *where) -> int:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def world(console_app):
    """Acme: a contact, two daily backups, cancelled by its owner, who then asked for the data in
    backups. Beta: active, with its own backup."""
    app = console_app
    with in_app(app):
        owner = factories.make_user("owner-acme@example.com", name="Olga Ownerova")
        acme = factories.make_tenant("acme", owner=owner, name="Acme Trading")
        beta = factories.make_tenant("beta", name="Beta Works")
        acme_id, beta_id, owner_ref = acme.id, beta.id, who(owner)
    add_contact(app, TenantRef(acme_id, "acme", owner_ref), CANARY)
    with in_app(app):
        acme, beta = db.session.get(Tenant, acme_id), db.session.get(Tenant, beta_id)
        older = backups.take(acme, (T0 - timedelta(days=2)).date())
        newer = backups.take(acme, (T0 - timedelta(days=1)).date())
        other = backups.take(beta, (T0 - timedelta(days=1)).date())
        with tenant_context(acme):
            older_id, newer_id = older.id, newer.id
        with tenant_context(beta):
            other_id = other.id
    with in_app(app):
        acme = db.session.get(Tenant, acme_id)
        cancellation.cancel(acme, actor=db.session.get(User, owner_ref.id))
    with in_app(app):
        acme = db.session.get(Tenant, acme_id)
        row = backup_requests.request_backup_data(acme, actor=db.session.get(User, owner_ref.id),
                                                  note="Everything as it was two days ago, please.")
        with tenant_context(acme):
            request_id = row.id
    return {"app": app, "acme": acme_id, "beta": beta_id, "owner": owner_ref, "request": request_id,
            "older": older_id, "newer": newer_id, "other_backup": other_id}


def _request_row(app, request_id) -> dict:
    with in_app(app, commit=False), all_tenants():
        row = db.session.get(BackupDataRequest, request_id)
        return {"status": row.status, "backup_ref": row.backup_ref, "export_ref": row.export_ref,
                "fulfilled_by_staff_id": row.fulfilled_by_staff_id, "fulfilled_at": row.fulfilled_at}


# --- the list ------------------------------------------------------------------------------


@pytest.mark.obligation("DPA-4.10", "DPA-4.1")
def test_the_page_lists_requests_cancelled_tenants_and_days_left_without_personal_data(world):
    app = world["app"]
    admin = signed_in(app, staff_member(app, "platform-admin"))
    response = admin.get("/admin/lifecycle/")
    assert response.status_code == 200
    html = text(response)
    assert_no_personal_data(html)
    due = tenant_row(app, world["acme"])["deletion_due_at"]
    assert due == T0 + timedelta(days=80)
    requests = html[html.index('id="lc-requests"'):html.index('id="lc-cancelled"')]
    assert "acme" in requests and f"/admin/lifecycle/backup-requests/{world['request']}" in requests
    assert due.strftime("%Y-%m-%d") in requests
    cancelled = html[html.index('id="lc-cancelled"'):html.index('id="lc-deleted"')]
    assert "<td>acme</td>" in cancelled and "<td>80</td>" in cancelled
    assert "beta" not in cancelled  # active tenants are not counting down
    assert f"/admin/lifecycle/tenants/{world['acme']}/expedite" in cancelled
    assert "No tenant has been deleted." in html
    page = text(admin.get(f"/admin/lifecycle/backup-requests/{world['request']}"))
    assert_no_personal_data(page)
    assert "Everything as it was two days ago, please." in page  # the owner's request itself
    assert (T0 - timedelta(days=2)).strftime("%Y-%m-%d") in page and (T0 - timedelta(days=1)).strftime("%Y-%m-%d") in page
    assert "80 days left" in page


# --- fulfilling a request for backed-up data ---------------------------------------------------


@pytest.mark.obligation("DPA-4.10", "DPA-4.1", "DPA-B.monitoring")
def test_a_request_is_fulfilled_from_the_chosen_backup_audited_as_the_staff_member(world, outbox):
    app = world["app"]
    person = staff_member(app, "platform-admin")
    admin = signed_in(app, person)
    url = f"/admin/lifecycle/backup-requests/{world['request']}"
    response = admin.post(url, data={"backup": str(world["older"])})
    assert response.status_code == 302, text(response)[:800]
    assert response.headers["Location"].endswith("/admin/lifecycle/")
    follow = admin.get("/admin/lifecycle/")
    assert "The export from the backup is being built; the owners were told." in text(follow)
    assert "No open requests." in text(follow)

    row = _request_row(app, world["request"])
    assert row["status"] == "fulfilled" and row["backup_ref"] == str(world["older"])
    assert row["fulfilled_by_staff_id"] == person.id and row["fulfilled_at"] == T0
    with in_app(app, commit=False), all_tenants():
        export = db.session.get(Export, uuid.UUID(row["export_ref"]))
        # Built from the older backup, not the newer one; the inline job has copied it.
        assert (export.tenant_id, export.backup_id) == (world["acme"], world["older"])
        assert (export.requested_by_type, export.requested_by_id) == ("staff", str(person.id))
        assert export.status == "done"
        owners_told = db.session.execute(sa.select(Notification).where(
            Notification.kind == "lifecycle.backup-data-ready", Notification.tenant_id == world["acme"])).scalars().all()
        assert [n.user_id for n in owners_told] == [world["owner"].id]

    [event] = staff_events(app, world["acme"], "tenant.backup-data-fulfilled")
    assert (event.actor_type, event.actor_id) == ("staff", str(person.id))
    assert (event.target_type, event.target_id) == ("backup_request", str(world["request"]))
    assert event.details == {"backup": str(world["older"])}
    [requested] = staff_events(app, world["acme"], "export.requested")
    assert (requested.actor_type, requested.actor_id) == ("staff", str(person.id))
    assert chain_ok(app, world["acme"])

    # Fulfilled once: the page shows what was done and offers no second export.
    page = text(admin.get(url))
    assert "fulfilled" in page and str(world["older"]) in page and "Build the export" not in page
    again = admin.post(url, data={"backup": str(world["newer"])})
    assert again.status_code == 200
    assert _count(app, Export, Export.tenant_id == world["acme"]) == 1


@pytest.mark.obligation("DPA-4.10")
@pytest.mark.parametrize(("choice", "message"), [
    ("", "Choose a backup."),
    ("2026-05-30", "Not a valid choice"),  # a day is not one of the offered choices
    ("not-a-backup", "Not a valid choice"),
    ("other", "Not a valid choice"),  # another tenant's backup
])
def test_a_bad_backup_choice_is_refused_next_to_the_field_and_nothing_is_written(world, choice, message):
    app = world["app"]
    admin = signed_in(app, staff_member(app, "platform-admin"))
    before = _count(app, AuditEvent)
    response = admin.post(f"/admin/lifecycle/backup-requests/{world['request']}",
                          data={"backup": str(world["other_backup"]) if choice == "other" else choice})
    assert response.status_code == 422
    html = text(response)
    assert any(message in e for e in field_errors(html, "backup")), field_errors(html, "backup")
    assert 'aria-invalid="true"' in html
    assert_no_personal_data(html)
    assert _request_row(app, world["request"])["status"] == "open"
    assert _count(app, Export) == 0
    assert _count(app, AuditEvent) == before


def test_a_request_of_a_reactivated_tenant_is_refused_with_the_reason(world):
    app = world["app"]
    with in_app(app):
        acme = db.session.get(Tenant, world["acme"])
        cancellation.reactivate(acme, actor=db.session.get(User, world["owner"].id))
    admin = signed_in(app, staff_member(app, "platform-admin"))
    before = _count(app, AuditEvent)
    response = admin.post(f"/admin/lifecycle/backup-requests/{world['request']}", data={"backup": str(world["older"])})
    assert response.status_code == 422
    assert field_errors(text(response), "backup") == ["The workspace is no longer in its 80 days after cancellation."]
    assert _request_row(app, world["request"])["status"] == "open"
    assert _count(app, Export) == 0 and _count(app, AuditEvent) == before


def test_an_unknown_request_or_tenant_answers_404(world):
    app = world["app"]
    admin = signed_in(app, staff_member(app, "platform-admin"))
    assert admin.get(f"/admin/lifecycle/backup-requests/{uuid.uuid4()}").status_code == 404
    assert admin.post(f"/admin/lifecycle/backup-requests/{uuid.uuid4()}", data={"backup": "x"}).status_code == 404
    assert admin.get(f"/admin/lifecycle/tenants/{uuid.uuid4()}/expedite").status_code == 404


# --- expedited deletion --------------------------------------------------------------------


@pytest.mark.obligation("DPA-4.10", "TEK-withdraw", "DPA-4.1", "DPA-B.monitoring")
@pytest.mark.parametrize("slug", ["acme", "beta"])
def test_early_deletion_is_filed_on_the_written_request_and_scheduled_within_5_working_days(world, slug):
    """Acme is already cancelled (deletion brought forward); Beta is active (cancelled now)."""
    app = world["app"]
    tenant_id = world[slug]
    person = staff_member(app, "platform-admin")
    admin = signed_in(app, person)
    url = f"/admin/lifecycle/tenants/{tenant_id}/expedite"
    form = text(admin.get(url))
    assert "The owner&#39;s written request (ticket or letter reference)" in form
    assert_no_personal_data(form)

    response = admin.post(url, data={"reference": "  Letter LT-2026-117  "})
    assert response.status_code == 302, text(response)[:800]
    due = business_days.add_business_days(T0, 5, "CZ")
    assert due == T0 + timedelta(days=7)  # Monday 1 June 2026 -> Monday 8 June, no Czech holiday between
    listing = text(admin.get("/admin/lifecycle/"))
    assert f"Deletion of {slug} is scheduled for {due:%Y-%m-%d %H:%M} UTC; the owners were told." in listing
    assert "expedited" in listing
    assert_no_personal_data(listing)

    row = tenant_row(app, tenant_id)
    assert (row["status"], row["deletion_due_at"]) == ("cancelled", due)
    with in_app(app, commit=False), all_tenants():
        [request] = db.session.execute(sa.select(DeletionRequest).where(DeletionRequest.tenant_id == tenant_id)).scalars()
        assert (request.reference, request.scheduled_for, request.filed_by_staff_id) == ("Letter LT-2026-117", due,
                                                                                          person.id)
        assert request.requested_by_user_id is None
        told = db.session.execute(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.kind == "lifecycle.deletion-requested", Notification.tenant_id == tenant_id)).scalar_one()
        assert told == 1
    [event] = staff_events(app, tenant_id, "tenant.deletion-requested")
    assert (event.actor_type, event.actor_id) == ("staff", str(person.id))
    assert event.details == {"scheduled_for": due.isoformat(), "reference": "Letter LT-2026-117", "filed_by_staff": True}
    if slug == "beta":
        [cancelled] = staff_events(app, tenant_id, "tenant.cancelled")
        assert (cancelled.actor_type, cancelled.actor_id) == ("staff", str(person.id))
        assert cancelled.details["channel"] == "staff"
    assert chain_ok(app, tenant_id)

    # Filed once: the page now says when, and a second post writes nothing.
    page = text(admin.get(url))
    assert f"{due:%Y-%m-%d %H:%M} UTC" in page and "File the request" not in page
    before = _count(app, AuditEvent)
    assert admin.post(url, data={"reference": "again"}).status_code == 200
    assert _count(app, DeletionRequest) == 1 and _count(app, AuditEvent) == before


@pytest.mark.obligation("TEK-withdraw")
@pytest.mark.parametrize(("reference", "message"), [
    ("", "Name the written request."),
    ("   ", "Name the written request."),
    ("x" * 121, "Field cannot be longer than 120 characters."),
])
def test_a_bad_reference_is_refused_next_to_the_field_and_nothing_is_written(world, reference, message):
    app = world["app"]
    admin = signed_in(app, staff_member(app, "platform-admin"))
    before_events, before_due = _count(app, AuditEvent), tenant_row(app, world["beta"])
    for slug in ("acme", "beta"):
        response = admin.post(f"/admin/lifecycle/tenants/{world[slug]}/expedite", data={"reference": reference})
        assert response.status_code == 422
        assert field_errors(text(response), "reference") == [message]
        assert_no_personal_data(text(response))
    assert tenant_row(app, world["beta"]) == before_due
    assert tenant_row(app, world["acme"])["deletion_due_at"] == T0 + timedelta(days=80)
    assert _count(app, DeletionRequest) == 0 and _count(app, AuditEvent) == before_events


# --- who may act -----------------------------------------------------------------------------


@pytest.mark.obligation("TT-least-privilege", "DPA-4.1")
@pytest.mark.parametrize("role", ["dpo", "support"])
def test_only_platform_admins_open_or_act_on_the_lifecycle_pages(world, role):
    app = world["app"]
    client = signed_in(app, staff_member(app, role))
    before = _count(app, AuditEvent)
    request_url = f"/admin/lifecycle/backup-requests/{world['request']}"
    expedite_url = f"/admin/lifecycle/tenants/{world['beta']}/expedite"
    for method, url, data in (("get", "/admin/lifecycle/", None), ("get", request_url, None),
                              ("post", request_url, {"backup": str(world["older"])}),
                              ("get", expedite_url, None), ("post", expedite_url, {"reference": "LT-1"})):
        response = getattr(client, method)(url, data=data)
        assert response.status_code == 403, (method, url, response.status_code)
        assert_no_personal_data(text(response))
    assert _request_row(app, world["request"])["status"] == "open"
    assert tenant_row(app, world["beta"])["status"] == "active"
    assert _count(app, Export) == 0 and _count(app, DeletionRequest) == 0
    assert _count(app, AuditEvent) == before


def test_tenant_users_get_404_and_visitors_the_staff_sign_in(world):
    app = world["app"]
    owner = app.test_client()
    factories.sign_in(owner, world["owner"])
    assert owner.get("/admin/lifecycle/").status_code == 404
    assert owner.post(f"/admin/lifecycle/tenants/{world['beta']}/expedite", data={"reference": "x"}).status_code == 404
    anonymous = app.test_client().get("/admin/lifecycle/")
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]
    assert tenant_row(app, world["beta"])["status"] == "active"
