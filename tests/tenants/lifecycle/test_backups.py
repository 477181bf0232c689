"""Daily backups [DPA-B.backup]: the nightly sweep takes one per active tenant per day
(idempotent), sealed under the tenant key; retention deletes on day 31, not 30; a restore
into a new tenant equals the original; an export can be built from a backup [DPA-4.10]."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import cron, jobs, storage
from tenantry.platform.crypto import file_sealing
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, get_by_slug, tenant_context
from tenantry.tenants.lifecycle import backups, export
from tenantry.tenants.lifecycle.export_models import Backup
from tests import factories
from tests.identity.support import flask_cli
from tests.tenants.lifecycle.export_support import CRM, entity, make_seeded_tenant, normalised, open_zip
from tests.tenants.lifecycle.test_export_import import _pair_ids

NIGHT = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def _backups() -> list[Backup]:
    with all_tenants():
        return list(db.session.execute(sa.select(Backup).order_by(Backup.day, Backup.tenant_id)).scalars())


def _plain(backup: Backup) -> bytes:
    out = io.BytesIO()
    with tenant_context(db.session.get(Tenant, backup.tenant_id)):
        backups.copy_plain(backup.id, out)
    return out.getvalue()


@pytest.fixture
def tenants(app_ctx, time_machine):
    time_machine.move_to(NIGHT - timedelta(days=1), tick=False)
    acme = make_seeded_tenant("acme", note="CANARY-backup-note")
    make_seeded_tenant("beta", contacts_n=1)
    gone = factories.make_tenant("gone")
    gone.status = TenantStatus.CANCELLED.value
    db.session.commit()
    time_machine.move_to(NIGHT, tick=False)
    return acme.id


@pytest.mark.obligation("DPA-B.backup")
def test_the_nightly_sweep_backs_up_every_active_tenant_once_a_day(tenants, time_machine):
    results = cron.sweep(NIGHT)
    assert results["backups"] == 2
    taken = _backups()
    assert sorted(b.tenant_id for b in taken) == sorted(
        t.id for t in db.session.execute(sa.select(Tenant).where(Tenant.slug.in_(["acme", "beta"]))).scalars())
    assert all(b.status == "done" and b.day == NIGHT.date() for b in taken)
    for b in taken:
        assert b.storage_key.startswith(f"tenants/{b.tenant_id}/backups/2026-07-01-{b.id}")
    # Later the same day: nothing more; the files stay as they were.
    before = {b.storage_key: storage.storage().get(b.storage_key) for b in taken}
    assert cron.sweep(NIGHT + timedelta(hours=20))["backups"] == 0
    assert len(_backups()) == 2
    assert {k: storage.storage().get(k) for k in before} == before
    # The next night: a new one each.
    assert cron.sweep(NIGHT + timedelta(days=1))["backups"] == 2
    assert len(_backups()) == 4


@pytest.mark.obligation("DPA-B.backup", "TT-aes256")
def test_a_backup_is_the_full_archive_sealed_under_the_tenants_key(tenants):
    cron.sweep(NIGHT)
    acme = next(b for b in _backups() if b.tenant_id == tenants)
    raw = storage.storage().get(acme.storage_key)
    assert raw.startswith(file_sealing.MAGIC) and b"CANARY-backup-note" not in raw
    zf = open_zip(_plain(acme))
    assert any(a["note"] == "CANARY-backup-note" for a in entity(zf, "activities"))
    assert acme.row_counts["contacts"] == 3 == len(entity(zf, "contacts"))


def test_a_backup_killed_half_way_is_redone_by_the_next_run(tenants, monkeypatch):
    from tenantry.tenants.lifecycle import archive

    real = archive.write
    monkeypatch.setattr(archive, "write", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    cron.sweep(NIGHT)
    assert {b.status for b in _backups()} == {"failed"}
    monkeypatch.setattr(archive, "write", real)
    assert cron.sweep(NIGHT + timedelta(minutes=5))["backups"] == 2
    assert {b.status for b in _backups()} == {"done"} and len(_backups()) == 2


@pytest.mark.obligation("DPA-B.backup", "TT-retention")
def test_retention_keeps_a_backup_30_days_and_deletes_it_on_day_31(tenants):
    cron.sweep(NIGHT)
    first = {b.id: b.storage_key for b in _backups()}
    cron.sweep(NIGHT + timedelta(days=30))
    kept = {b.id for b in _backups()}
    assert set(first) <= kept and all(storage.storage().exists(k) for k in first.values())
    cron.sweep(NIGHT + timedelta(days=31))
    left = {b.id for b in _backups()}
    assert not set(first) & left
    assert not any(storage.storage().exists(k) for k in first.values())
    assert len(left) == 4  # the backups of day 30 and day 31 of both tenants


def test_retention_is_configurable(make_app, time_machine):
    app = make_app(TENANTRY_BACKUP_RETENTION_DAYS="3")
    with app.app_context():
        time_machine.move_to(NIGHT, tick=False)
        make_seeded_tenant("acme", contacts_n=1)
        db.session.commit()
        cron.sweep(NIGHT)
        cron.sweep(NIGHT + timedelta(days=3))
        assert len(_backups()) == 2
        cron.sweep(NIGHT + timedelta(days=4))
        assert [b.day for b in _backups()] == [(NIGHT + timedelta(days=d)).date() for d in (3, 4)]


@pytest.mark.obligation("DPA-B.backup", "DPA-4.10")
def test_backups_list_and_restore_into_a_new_tenant_equals_the_original(app, tenants):
    cron.sweep(NIGHT)
    listed = flask_cli(app, "tenantry", "backups", "list", "acme")
    assert listed.exit_code == 0 and "2026-07-01" in listed.output
    backup = next(b for b in _backups() if b.tenant_id == tenants)
    original = open_zip(_plain(backup))
    result = flask_cli(app, "tenantry", "backups", "restore", "acme", "2026-07-01", "--into", "acme-restored")
    assert result.exit_code == 0, result.output
    restored = get_by_slug("acme-restored")
    assert restored is not None and restored.status == "active"
    restored_id = restored.id
    with tenant_context(restored):
        export_id = export.request().id
    db.session.commit()
    jobs.drain()
    with tenant_context(db.session.get(Tenant, restored_id)):
        copy = open_zip(b"".join(export.download(export.get(export_id))))
    ids = _pair_ids(original, copy)
    for name in CRM:
        assert normalised(entity(original, name), ids) == normalised(entity(copy, name)), name
    assert sorted((m["email"], m["role"]) for m in entity(copy, "members")) == sorted(
        (m["email"], m["role"]) for m in entity(original, "members"))
    again = flask_cli(app, "tenantry", "backups", "restore", "acme", "2026-07-01", "--into", "acme-restored")
    assert again.exit_code != 0 and "exists already" in again.output
    assert "no backup" in flask_cli(app, "tenantry", "backups", "restore", "acme", "1999-01-01",
                                    "--into", "x-new").output


@pytest.mark.obligation("DPA-4.10")
def test_an_export_built_from_a_backup_holds_the_backed_up_data(tenants):
    cron.sweep(NIGHT)
    backup = next(b for b in _backups() if b.tenant_id == tenants)
    backup_id = backup.id
    backed_up = _plain(backup)
    acme = db.session.get(Tenant, tenants)
    # The tenant changes after the backup; the backup-based export still has the old state.
    make_extra = factories.add_member(acme, role="viewer")
    assert make_extra is not None
    made = backups.export_from_backup(acme, backup_id)
    export_id = made.id
    db.session.commit()
    jobs.drain()
    with tenant_context(db.session.get(Tenant, tenants)):
        done = export.get(export_id)
        assert done.status == "done" and done.backup_id == backup_id
        assert b"".join(export.download(done)) == backed_up
    other = factories.make_tenant("other")
    db.session.commit()
    with pytest.raises(LookupError):
        backups.export_from_backup(other, backup_id)


@pytest.mark.obligation("DPA-A.special")
def test_a_restore_keeps_special_category_fields_under_the_agreement_it_was_made_under(app, tenants):
    """A restore is the same controller's workspace: its active agreement is carried to the
    copy, said in the copy's trail; once the agreement is revoked, such a backup is not restored."""
    from datetime import date

    from tenantry.dpa import special_categories
    from tenantry.platform.audit import AuditEvent
    from tenantry.tenants.crm import custom_fields
    from tenantry.tenants.crm.models import Contact

    staff = factories.make_staff("dpo")
    with tenant_context(db.session.get(Tenant, tenants)):
        agreement = special_categories.record(tenants, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák, CEO", signed_on=date(2026, 1, 5), categories=["health"],
            scope="Allergies of event guests"), staff=staff)
        allergy = custom_fields.create(custom_fields.DefinitionData(
            label="Allergy", key="allergy", type="text", options=[], required=False, special_category=True))
        for contact in db.session.scalars(sa.select(Contact)).all():
            custom_fields.save(contact, {allergy.id: "Peanuts"}, only=[allergy])
        agreement_id = agreement.id
    db.session.commit()
    cron.sweep(NIGHT)

    restored = flask_cli(app, "tenantry", "backups", "restore", "acme", "2026-07-01", "--into", "acme-restored")
    assert restored.exit_code == 0, restored.output
    copy = get_by_slug("acme-restored")
    with tenant_context(copy):
        carried = special_categories.active(copy.id)
        assert (carried.reference, carried.categories, carried.recorded_by_staff_id) == ("Annex 3", ["health"], staff.id)
        [event] = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "dpa.special_categories.carried")).all()
        assert event.details["from_agreement_id"] == str(agreement_id)
        assert custom_fields.usable()[-1].key == "allergy"
        assert sorted(custom_fields.values_of(c.id)[custom_fields.usable()[-1].id]
                      for c in db.session.scalars(sa.select(Contact))) == ["Peanuts"] * 3

    with tenant_context(db.session.get(Tenant, tenants)):
        special_categories.revoke(special_categories.get(tenants, agreement_id), "Ended", staff=staff)
    db.session.commit()
    refused = flask_cli(app, "tenantry", "backups", "restore", "acme", "2026-07-01", "--into", "acme-again")
    assert refused.exit_code != 0 and "no active agreement" in refused.output
    assert get_by_slug("acme-again") is None
