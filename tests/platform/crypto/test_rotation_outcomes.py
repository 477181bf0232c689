"""How a rotation ends, and what it says: a value that does not decrypt stops it with the
table, column and row named and a non-zero exit, and `resume` goes on once the value is
restored; a version that audit events or stored files still use is decrypt-only, never
retired, until the sweep finds nothing uses it; the CLI shows progress as it goes."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import audit, clock, cron, jobs, storage
from tenantry.platform.crypto import fields, file_sealing, keyring, rotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants, tenant_context
from tests.platform.crypto.conftest import key_versions_in_use, read_notes, write_notes


def _statuses(tenant):
    return [(r.version, r.status) for r in keyring.versions(tenant.id)]


def _corrupt(notes, tenant, row_id: int) -> bytes:
    """Flip one byte of a note's body ciphertext (past its header); returns the original."""
    with tenant_context(tenant):
        where = sa.and_(notes.c.tenant_id == tenant.id, notes.c.id == row_id)
        good = bytes(db.session.execute(sa.select(notes.c.body).where(where)).scalar_one())
        bad = good[:-1] + bytes([good[-1] ^ 1])
        db.session.execute(notes.update().where(where).values(body=bad))
    db.session.commit()
    return good


def _seal_file(tenant, name: str, data: bytes = b"id;name\n1;Jana\n") -> str:
    key = f"tenants/{tenant.id}/exports/{name}"
    with tenant_context(tenant):
        storage.storage().put(key, file_sealing.seal_stream(io.BytesIO(data), tenant_id=tenant.id, purpose=key))
    return key


@pytest.mark.obligation("TT-aes256", "DPA-B.integrity")
def test_a_value_that_does_not_decrypt_fails_the_rotation_clearly_and_resume_finishes_once_restored(
        two_tenants, notes, app_ctx):
    acme, _ = two_tenants
    expected = write_notes(notes, acme, 5)
    good = _corrupt(notes, acme, 3)
    db.session.remove()
    runner = app_ctx.app.test_cli_runner()

    out = runner.invoke(args=["tenantry", "keys", "rotate", "acme"])
    assert out.exit_code == 1, out.output
    assert isinstance(out.exception, SystemExit)  # a ClickException, no traceback
    assert "Traceback" not in out.output
    assert "re-encryption stopped at test_crypto_notes.body of row 3: does not decrypt here" in out.output
    assert "flask tenantry keys resume acme" in out.output
    assert "rotation to v2: failed" in out.output
    db.session.remove()
    failed = rotation.current(acme.id)
    assert failed.status == "failed" and failed.error.startswith("test_crypto_notes.body of row 3:")
    assert _statuses(acme) == [(1, "retiring"), (2, "active")]
    with all_tenants():
        event = db.session.execute(sa.select(audit.AuditEvent).where(
            audit.AuditEvent.action == "keys.reencrypted", audit.AuditEvent.outcome == "failure")).scalar_one()
        assert event.details["table"] == notes.name and event.details["row"] == "3"

    status = runner.invoke(args=["tenantry", "keys", "status", "acme"])
    assert status.exit_code == 0
    assert "rotation to v2 stopped at: test_crypto_notes.body of row 3" in status.output
    # The sweep does not retry it: it would stop at the same value.
    assert cron.sweep(clock.now() + rotation.STALE_AFTER + timedelta(minutes=1))["key-rotations"] == 0

    again = runner.invoke(args=["tenantry", "keys", "resume", "acme"])
    assert again.exit_code == 1 and isinstance(again.exception, SystemExit), again.output
    assert "Traceback" not in again.output
    assert "re-encryption stopped at test_crypto_notes.body of row 3" in again.output
    db.session.remove()

    with tenant_context(acme):  # restored, e.g. from a backup
        db.session.execute(notes.update().where(notes.c.tenant_id == acme.id, notes.c.id == 3).values(body=good))
    db.session.commit()
    done = runner.invoke(args=["tenantry", "keys", "resume", "acme"])
    assert done.exit_code == 0, done.output
    assert "acme: done" in done.output
    assert "data key v1: retired" in done.output
    db.session.remove()
    assert rotation.current(acme.id).error is None
    assert key_versions_in_use(notes, acme) == {2}
    assert read_notes(notes, acme) == expected


def test_something_that_does_not_answer_leaves_the_rotation_running_with_the_reason(
        two_tenants, notes, monkeypatch):
    acme, _ = two_tenants
    write_notes(notes, acme, 2)
    started = rotation.rotate(acme).id
    db.session.commit()
    jobs.discard_pending()

    def storage_down(_tenant_id):
        raise storage.StorageUnavailable("object storage did not answer for 'tenants/'")

    monkeypatch.setattr(rotation.usage, "file_versions", storage_down)
    with tenant_context(acme), pytest.raises(rotation.RotationFailed) as stopped:
        rotation.reencrypt(started)
    assert stopped.value.status == "running"
    db.session.remove()
    row = rotation.current(acme.id)
    assert row.status == "running" and "StorageUnavailable" in row.error
    assert _statuses(acme) == [(1, "retiring"), (2, "active")]
    monkeypatch.undo()
    # The sweep retries it once it has been quiet for a while, and it finishes.
    assert cron.sweep(clock.now() + rotation.STALE_AFTER + timedelta(minutes=1))["key-rotations"] == 1
    assert jobs.drain() == 1
    db.session.remove()
    assert (rotation.current(acme.id).status, rotation.current(acme.id).error) == ("done", None)


@pytest.mark.obligation("TT-aes256", "DPA-B.safe-store")
def test_a_version_audit_events_and_stored_files_still_use_is_decrypt_only_not_retired(
        two_tenants, notes, app_ctx):
    acme, globex = two_tenants
    expected = write_notes(notes, acme, 3)
    with tenant_context(acme):
        event = audit.record("test.changed", tenant_id=acme.id, target_type="note", target_id=1,
                             changes={"body": ("old", "new")})
        db.session.commit()
        event_id = event.id
    sealed = _seal_file(acme, "e1.zip.enc")
    storage.storage().put(f"tenants/{acme.id}/audits/x/doc", b"not a sealed file")  # its own key: not counted
    _seal_file(globex, "theirs.zip.enc")
    db.session.remove()

    out = app_ctx.app.test_cli_runner().invoke(args=["tenantry", "keys", "rotate", "acme"])
    assert out.exit_code == 0, out.output
    assert ("data key v1: decrypt-only (local): still used by audit events: 1, stored files: 1; "
            "kept for reading them, never for writing") in out.output
    assert "retired" not in out.output
    db.session.remove()
    assert key_versions_in_use(notes, acme) == {2}
    assert read_notes(notes, acme) == expected
    (v1, v2) = keyring.versions(acme.id)
    assert (v1.status, v1.in_use, v1.retired_at) == ("decrypt-only", {"audit events": 1, "stored files": 1}, None)
    assert v2.status == "active"
    # What it still holds reads as before: the event's changes (the chain covers their bytes)
    # and the file.
    with tenant_context(acme):
        stored = db.session.get(audit.AuditEvent, event_id)
        assert fields.key_version(stored.changes) == 1
        assert audit.changes_of(stored) == {"body": ("old", "new")}
        assert b"".join(file_sealing.open_stream(storage.storage().open(sealed), tenant_id=acme.id,
                                                 purpose=sealed)) == b"id;name\n1;Jana\n"
    assert _statuses(globex) == [(1, "active")]

    # The console says so too.
    from tenantry.admin.tenants import facts

    with all_tenants():
        (row,) = facts([db.session.get(type(acme), acme.id)])
    assert "data v1 (decrypt-only, still used by audit events: 1, stored files: 1)" in row.keys
    assert "data v2" in row.keys


def test_the_sweep_retires_a_decrypt_only_version_once_nothing_uses_it(two_tenants, notes, app_ctx):
    acme, _ = two_tenants
    write_notes(notes, acme, 2)
    sealed = _seal_file(acme, "e1.zip.enc")
    rotation.rotate(acme)
    db.session.commit()
    assert jobs.drain() == 1
    db.session.remove()
    assert _statuses(acme) == [(1, "decrypt-only"), (2, "active")]
    storage.storage().delete(sealed)  # its retention ended
    assert "key-usage" in [s.name for s in cron.steps()]
    assert rotation.recheck(clock.now() + timedelta(hours=1)) == 0  # counted less than a day ago
    assert rotation.recheck(clock.now() + rotation.RECHECK_EVERY + timedelta(minutes=1)) == 1
    db.session.remove()
    v1 = keyring.versions(acme.id)[0]
    assert (v1.status, v1.in_use) == ("retired", None) and v1.retired_at is not None
    assert rotation.recheck(clock.now() + 3 * rotation.RECHECK_EVERY) == 0  # nothing decrypt-only left


def test_the_cli_shows_the_progress_of_each_batch_and_of_a_rewrap(two_tenants, notes, app_ctx, monkeypatch):
    acme, _ = two_tenants
    write_notes(notes, acme, 5)
    db.session.remove()
    monkeypatch.setattr(rotation, "BATCH_SIZE", 2)
    real = rotation.reencrypt
    monkeypatch.setattr(rotation, "reencrypt", lambda rotation_id, batch_size=2: real(rotation_id, batch_size=2))
    runner = app_ctx.app.test_cli_runner()
    out = runner.invoke(args=["tenantry", "keys", "rotate", "acme"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [line for line in lines if line.startswith("rotation to v2: ") and "rows (" in line
            and "done" not in line] == [
        "rotation to v2: 2/5 rows (40%)", "rotation to v2: 4/5 rows (80%)", "rotation to v2: 5/5 rows (99%)"]
    assert "rotation to v2: done, 5/5 rows (100%), 10 values re-encrypted" in out.output
    rewrap = runner.invoke(args=["tenantry", "keys", "rewrap"])
    assert rewrap.exit_code == 0, rewrap.output
    assert "tenant keys: 5/5 (100%), 5 re-wrapped, 0 already under the new key" in rewrap.output


def test_a_tenants_own_incident_report_keeps_its_version_decrypt_only(two_tenants, app_ctx):
    """The breach register is append-only (the app role may not update it): the report stays
    under the version it was sealed with, which therefore is not retired."""
    from tenantry.dpa.incidents import models as incidents
    from tenantry.dpa.incidents import service
    from tenantry.platform.identity.models import Membership, User
    from tests.dpa.incidents.support import details

    acme, globex = two_tenants
    with tenant_context(acme):
        owner = db.session.execute(sa.select(User).join(Membership, Membership.user_id == User.id)
                                   .where(Membership.tenant_id == acme.id)).scalars().first()
        incident_id = service.report_by_tenant(details(), tenant=acme, user=owner).id
        db.session.commit()
    jobs.discard_pending()  # the DPO's e-mail
    rotation.rotate(acme)
    db.session.commit()
    assert jobs.drain() == 1
    db.session.remove()
    v1 = keyring.versions(acme.id)[0]
    assert v1.status == "decrypt-only" and v1.in_use["incident reports"] == 1
    with all_tenants():
        incident = db.session.get(incidents.Incident, incident_id)
        assert fields.key_version(incident.sealed_report) == 1
        assert incident.title == details().title  # still opens
    assert _statuses(globex) == [(1, "active")]


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_stored_files_are_counted_by_the_key_version_in_their_header(two_tenants, app_ctx, monkeypatch, tmp_path,
                                                                     request, kind):
    import uuid
    from collections import Counter

    import boto3

    from tenantry.platform.crypto import usage

    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        bucket = f"tenantry-test-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        store = storage.S3Storage(bucket, prefix="env/prod", client=client)
    else:
        store = storage.LocalStorage(tmp_path / "usage-storage")
    monkeypatch.setitem(app_ctx.app.extensions, "tenantry.storage", store)
    acme, globex = two_tenants
    _seal_file(acme, "before.zip.enc", b"x" * (file_sealing.CHUNK + 10))  # two chunks: only the header is read
    keyring.rotate(acme.id)
    db.session.commit()
    _seal_file(acme, "after.zip.enc")
    _seal_file(acme, "after-too.zip.enc")
    store.put(f"tenants/{acme.id}/audits/a/doc", b"\x00" * 40)  # not a sealed file
    store.put(f"tenants/{acme.id}/imports/empty", b"")
    _seal_file(globex, "theirs.zip.enc")
    assert usage.file_versions(acme.id) == Counter({1: 1, 2: 2})
    assert usage.file_versions(globex.id) == Counter({1: 1})
