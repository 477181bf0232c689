"""Deletion on day 80 [DPA-4.9, DPA-4.10, TT-retention, TEK-termination]: at 79 days 23:59
nothing is gone; at day 80 the database holds no row of the tenant beyond the tombstone and
its audit events stripped of personal data, storage holds none of its files, copies of its
backups no longer decrypt, and the owners have their certificate. A purge killed half-way
finishes when run again."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, storage
from tenantry.platform.audit import AuditEvent
from tenantry.platform.crypto import file_sealing, keyring
from tenantry.platform.db import db
from tenantry.platform.identity.models import User
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.lifecycle import backups, cancellation, purge
from tenantry.tenants.lifecycle.cancel_models import Tombstone
from tests import factories
from tests.identity.support import T0, flask_cli, in_app, new_member
from tests.tenants.lifecycle.lifecycle_support import (
    add_contact,
    contact_count,
    owned_tenant,
    sweep,
    tenant_row,
)

pytestmark = pytest.mark.usefixtures("frozen")

# What may still name a deleted tenant's id, and why:
# - tenants: the row stays with status `deleted`, its slug and name replaced, so the foreign
#   keys of the audit events and of the tombstone stay valid;
# - tenant_tombstones: the record of the deletion (dates, counts, hash of the slug);
# - audit_events: the platform's own events recording the purge (system actor, the tenant as
#   target id; no address, browser or personal details); the tenant's own chain is gone;
# - audit_checkpoints: signed hashes of the tenant's former chain, without content;
# - tenant_keys: the erased key versions (status destroyed, no key material), which stop the
#   keyring from ever creating fresh keys under the deleted tenant's id.
MAY_REMAIN = {"tenants", "tenant_tombstones", "audit_events", "audit_checkpoints", "tenant_keys"}


def _mentions(value, tenant_id: uuid.UUID) -> bool:
    if value is None:
        return False
    if isinstance(value, uuid.UUID):
        return value == tenant_id
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        return str(tenant_id).encode() in raw or tenant_id.bytes in raw or tenant_id.hex.encode() in raw
    text = str(value)
    return str(tenant_id) in text or tenant_id.hex in text


def tables_mentioning(app, tenant_id: uuid.UUID) -> dict[str, int]:
    """Every table of the database (not only the mapped ones), every row and column."""
    found: dict[str, int] = {}
    with in_app(app, commit=False), all_tenants():
        names = sa.inspect(db.session.connection()).get_table_names()
        for name in names:
            if name == "alembic_version":
                continue
            rows = db.session.execute(sa.text(f'SELECT * FROM "{name}"')).all()  # noqa: S608 (names from the catalog)
            hits = sum(1 for row in rows if any(_mentions(v, tenant_id) for v in row))
            if hits:
                found[name] = hits
    return found


def _populate(app):
    """Acme with contacts, an owner only there, a member also in another tenant, an attachment,
    and audit events carrying an address and a browser."""
    acme = owned_tenant(app, "acme")
    other = owned_tenant(app, "bystander")
    add_contact(app, acme, "Canaryson")
    add_contact(app, acme, "Dvorak")
    add_contact(app, other, "Keeper")
    shared = new_member(app, acme, "member")
    with in_app(app):
        factories.add_member(db.session.get(Tenant, other.id), db.session.get(User, shared.id), "viewer")
    with in_app(app):
        attachment = f"tenants/{acme.id}/attachments/{uuid.uuid4()}"
        storage.storage().put(attachment, file_sealing.seal_stream(io.BytesIO(b"attached canary"),
                                                                   tenant_id=acme.id, purpose=attachment))
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                                  headers={"User-Agent": "CanaryBrowser/1.0"}):
        audit.record("crm.contact.viewed", tenant_id=acme.id, target_type="contact", details={"why": "canary"})
        db.session.commit()
        db.session.remove()
    return acme, other, shared


def _backups(app, frozen, *tenants):
    """Real backups taken the day before deletion (within the backup lane's retention), and a
    copy of the first one's file taken aside."""
    frozen.move_to(T0 + timedelta(days=78), tick=False)
    keys = []
    with in_app(app):
        for ref in tenants:
            t = db.session.get(Tenant, ref.id)
            backup = backups.take(t, (T0 + timedelta(days=78)).date())
            with tenant_context(t):
                keys.append(backup.storage_key)
    with in_app(app, commit=False):
        return keys[0], storage.storage().get(keys[0])


@pytest.mark.obligation("DPA-2.9")
@pytest.mark.obligation("DPA-4.9")
@pytest.mark.obligation("TEK-termination")
@pytest.mark.obligation("DPA-4.10", "TT-retention")
def test_day_79_keeps_everything_and_day_80_deletes_everything(web_app, frozen, outbox):
    acme, other, shared = _populate(web_app)
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, acme.id), channel="staff", reference="T-9")
    backup_key, copied_backup = _backups(web_app, frozen, acme, other)
    due = T0 + timedelta(days=80)
    before_files = {k for k in _files(web_app, acme.id)}
    assert backup_key in before_files and len(before_files) == 2

    almost = due - timedelta(minutes=1)
    frozen.move_to(almost, tick=False)
    result = sweep(web_app, almost)
    assert result["lifecycle-purge"] == 0
    assert contact_count(web_app, acme.id) == 2
    assert set(_files(web_app, acme.id)) == before_files
    assert tenant_row(web_app, acme.id)["status"] == "cancelled"
    assert not outbox.to(acme.owner.email) or not any("Certificate" in m["Subject"] for m in outbox.messages())

    frozen.move_to(due, tick=False)
    cli = flask_cli(web_app, "tenantry", "sweep", "--as-of", due.isoformat())
    assert cli.exit_code == 0, cli.output
    assert "lifecycle-purge=1" in cli.output

    # The database: nothing of the tenant outside what may remain, and that holds no personal data.
    assert set(tables_mentioning(web_app, acme.id)) <= MAY_REMAIN, tables_mentioning(web_app, acme.id)
    row = tenant_row(web_app, acme.id)
    assert row["status"] == "deleted" and row["slug"] != "acme" and row["name"] == "Deleted workspace"
    with in_app(web_app, commit=False), all_tenants():
        assert not db.session.execute(sa.select(AuditEvent).where(AuditEvent.tenant_id == acme.id)).first()
        left = db.session.execute(sa.select(AuditEvent).where(AuditEvent.target_id == str(acme.id))).scalars().all()
        assert {e.action for e in left} >= {"tenant.purge-started", "tenant.deleted"}
        assert all(e.ip is None and e.user_agent is None and e.actor_type == "system" for e in left)
        keys = db.session.execute(sa.select(keyring.TenantKey).where(keyring.TenantKey.tenant_id == acme.id)
                                  .execution_options(all_tenants=True)).scalars().all()
        assert keys and all(k.status == "destroyed" and k.wrapped is None for k in keys)
        stone = db.session.get(Tombstone, acme.id)
        assert stone.slug_sha256 == purge.slug_hash("acme")
        assert stone.counts["rows"]["contacts"] == 2 and stone.counts["files"] == 2
        assert stone.counts["accounts"] == 1  # the owner, whose only workspace this was
        assert stone.certificate_sent_at <= stone.keys_destroyed_at <= stone.deleted_at
        [cert] = db.session.execute(sa.select(Notification).where(
            Notification.kind == "lifecycle.deletion-certificate")).scalars().all()
        assert cert.delivery_state == "sent" and cert.sent_at <= stone.keys_destroyed_at
        # The account also in another workspace stays; the owner's went.
        assert db.session.get(User, shared.id) is not None
        assert db.session.get(User, acme.owner.id) is None
        assert not db.session.execute(sa.select(User).where(User.email == acme.owner.email)).first()
        # Nobody can sign up with the slug and find old data; a new tenant could take it.
        assert db.session.execute(sa.select(Tenant).where(Tenant.slug == "acme")).first() is None

    # Storage: the prefix is empty, the other tenant's files are there.
    assert list(_files(web_app, acme.id)) == []
    assert _files(web_app, other.id)  # its backups are still there
    # Backups: a copy taken aside before the deletion no longer opens.
    with in_app(web_app, commit=False):
        with pytest.raises(file_sealing.FileSealError):
            b"".join(file_sealing.open_stream(io.BytesIO(copied_backup), tenant_id=acme.id, purpose=backup_key))
    # The certificate: counts and ids, nothing that names a person or the workspace.
    [mail] = [m for m in outbox.to(acme.owner.email) if "Certificate of deletion" in m["Subject"]]
    body = mail.get_content()
    assert str(acme.id) in body and purge.slug_hash("acme") in body
    assert "contacts: 2" in body and "2 stored files" in body
    assert "acme" not in body.replace(str(acme.id), "").lower().replace(purge.slug_hash("acme"), "")
    assert "Canaryson" not in body

    # The other tenant is untouched, and a second sweep does nothing more.
    assert contact_count(web_app, other.id) == 1 and tenant_row(web_app, other.id)["status"] == "active"
    again = sweep(web_app, due + timedelta(hours=1))
    assert again["lifecycle-purge"] == 0
    assert len([m for m in outbox.messages() if "Certificate" in m["Subject"]]) == 1
    assert flask_cli(web_app, "tenantry", "tenants", "cancel", "acme", "--reference", "x").exit_code != 0


def _files(app, tenant_id):
    with in_app(app, commit=False):
        return list(storage.storage().list(purge.storage_prefix(tenant_id)))


@pytest.mark.obligation("DPA-4.10", "TT-retention")
def test_a_purge_killed_half_way_finishes_when_run_again(web_app, frozen, outbox):
    acme = owned_tenant(web_app, "acme")
    for i in range(23):
        add_contact(web_app, acme, f"Person{i}")
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, acme.id), channel="staff")
    due = T0 + timedelta(days=80)
    frozen.move_to(due, tick=False)

    def killed(batches):
        if batches == 3:
            raise purge.PurgeInterrupted("killed")

    with in_app(web_app), pytest.raises(purge.PurgeInterrupted):
        purge.run(due, batch_size=5, on_batch=killed)
    left = contact_count(web_app, acme.id)
    assert 0 < left < 23
    with in_app(web_app, commit=False), all_tenants():
        stone = db.session.get(Tombstone, acme.id)
        assert stone.keys_destroyed_at is None and stone.deleted_at is None
    assert tenant_row(web_app, acme.id)["status"] == "cancelled"
    # Reactivation is no longer possible once the purge has begun.
    with in_app(web_app), pytest.raises(cancellation.LifecycleError):
        cancellation.reactivate(db.session.get(Tenant, acme.id), actor=None)

    result = sweep(web_app, due + timedelta(minutes=5))
    assert result["lifecycle-purge"] == 1
    assert contact_count(web_app, acme.id) == 0
    assert set(tables_mentioning(web_app, acme.id)) <= MAY_REMAIN
    with in_app(web_app, commit=False), all_tenants():
        stone = db.session.get(Tombstone, acme.id)
        assert stone.counts["rows"]["contacts"] == 23  # each batch counted once across both runs
        assert stone.deleted_at is not None
    assert len([m for m in outbox.messages() if "Certificate" in m["Subject"]]) == 1


@pytest.mark.obligation("DPA-4.10")
def test_the_keys_wait_for_the_certificate_when_mail_is_down(web_app, frozen, outbox, monkeypatch):
    from tenantry.platform import mail

    acme = owned_tenant(web_app, "acme")
    add_contact(web_app, acme)
    with in_app(web_app):
        cancellation.cancel(db.session.get(Tenant, acme.id), channel="staff")
    due = T0 + timedelta(days=80)
    frozen.move_to(due, tick=False)

    def down(*_a, **_k):
        raise mail.MailError("SMTP is down")

    monkeypatch.setattr(mail, "send", down)
    assert sweep(web_app, due)["lifecycle-purge"] == 0
    assert contact_count(web_app, acme.id) == 0
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.get(Tombstone, acme.id).keys_destroyed_at is None
        assert keyring.versions(acme.id)[0].wrapped is not None
    monkeypatch.undo()
    assert sweep(web_app, due + timedelta(minutes=10))["lifecycle-purge"] == 1
    assert tenant_row(web_app, acme.id)["status"] == "deleted"
    assert [m["Subject"] for m in outbox.to(acme.owner.email)][-1] == "Certificate of deletion of your Tenantry workspace"
