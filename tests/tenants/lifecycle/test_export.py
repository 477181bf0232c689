"""Full export [DPA-4.10, DSR-portability]: the ZIP's contents and manifest, formula-safe CSV,
sealed storage (canary, tampering, truncation), the 7-day download link, and flat memory."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock, jobs, storage
from tenantry.platform.crypto import fields, file_sealing
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.lifecycle import archive, export
from tenantry.tenants.lifecycle.export_models import Export
from tests.tenants.lifecycle.export_support import entity, make_seeded_tenant, open_zip


def _run_export(tenant_id: uuid.UUID) -> uuid.UUID:
    """Request an export of the tenant as a job would, run the job, return the export id."""
    tenant = db.session.get(Tenant, tenant_id)
    with tenant_context(tenant):
        export_id = export.request(requested_by=tenant._test_owner if hasattr(tenant, "_test_owner") else None).id
    db.session.commit()
    assert jobs.drain() >= 1
    return export_id


def _download(tenant_id: uuid.UUID, export_id: uuid.UUID) -> bytes:
    tenant = db.session.get(Tenant, tenant_id)
    with tenant_context(tenant):
        return b"".join(export.download(export.get(export_id)))


@pytest.fixture
def acme(app_ctx):
    tenant = make_seeded_tenant("acme", note="CANARY-" + secrets.token_hex(6))
    db.session.commit()
    return tenant.id


@pytest.mark.obligation("DPA-4.10", "DSR-portability")
def test_the_zip_holds_json_and_csv_of_every_entity_and_a_manifest_with_counts_and_hashes(acme):
    export_id = _run_export(acme)
    with tenant_context(db.session.get(Tenant, acme)):
        done = export.get(export_id)
        assert (done.status, done.progress) == ("done", 100)
    zf = open_zip(_download(acme, export_id))
    names = set(zf.namelist())
    for name in ("companies", "contacts", "deals", "activities", "custom_fields", "custom_field_values", "members",
                 "audit_trail", "pipeline_stages"):
        assert {f"{name}.json", f"{name}.csv"} <= names
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format_version"] == archive.FORMAT_VERSION
    assert manifest["tenant"]["slug"] == "acme" and manifest["tenant"]["id"] == str(acme)
    assert manifest["row_counts"]["contacts"] == 3 and manifest["row_counts"]["activities"] == 2
    assert manifest["row_counts"]["members"] == 1 and manifest["row_counts"]["pipeline_stages"] == 6
    assert manifest["row_counts"]["audit_trail"] >= 6
    assert set(manifest["files"]) == names - {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"], name
    for name, count in manifest["row_counts"].items():
        assert len(entity(zf, name)) == count
    people = entity(zf, "contacts")
    assert sorted(p["last_name"] for p in people) == ["Nováková0", "Nováková1", "Nováková2"]
    assert people[0]["emails"][0].startswith("jana") and people[0]["phones"] == ["+420601234567"]
    assert entity(zf, "members")[0]["role"] == "owner"
    assert {e["action"] for e in entity(zf, "audit_trail")} >= {"crm.contact.created", "export.requested"}
    # Custom fields: the definition, and each contact's value decrypted and tied to both.
    [tier] = entity(zf, "custom_fields")
    assert (tier["key"], tier["type"], tier["label"]) == ("tier", "text", "Customer tier")
    values = entity(zf, "custom_field_values")
    assert sorted(v["value"] for v in values) == ["=Silver 1", "Gold 0", "Gold 2"]
    assert {v["field_id"] for v in values} == {tier["id"]} and {v["contact_id"] for v in values} == {
        p["id"] for p in people}
    assert "'=Silver 1" in zf.read("custom_field_values.csv").decode()  # defused for spreadsheets


@pytest.mark.obligation("DSR-portability")
def test_csv_cells_that_a_spreadsheet_would_run_are_defused(acme):
    zf = open_zip(_download(acme, _run_export(acme)))
    companies_csv = zf.read("companies.csv").decode()
    contacts_csv = zf.read("contacts.csv").decode()
    activities_csv = zf.read("activities.csv").decode()
    assert "'=HYPERLINK(\"\"x\"\")" in companies_csv and ",=HYPERLINK" not in companies_csv
    assert "'+1 call back" in contacts_csv
    assert "'-send offer" in activities_csv
    # The JSON keeps the exact values: the escaping is for spreadsheets only.
    assert entity(zf, "companies")[0]["notes"] == '=HYPERLINK("x")'


@pytest.mark.obligation("DPA-4.10", "TT-aes256", "DPA-B.integrity")
def test_the_stored_file_is_sealed_under_the_tenant_key(acme):
    tenant = db.session.get(Tenant, acme)
    with tenant_context(tenant):
        canary = next(a for a in entity(open_zip(_download(acme, _run_export(acme))), "activities")
                      if a["note"].startswith("CANARY-"))["note"]
    with tenant_context(db.session.get(Tenant, acme)):
        stored = export.get(db.session.execute(sa.select(Export.id)).scalar_one())
        key = stored.storage_key
    assert key == f"tenants/{acme}/exports/{stored.id}.zip.enc"
    raw = storage.storage().get(key)
    assert canary.encode() not in raw and b"Nov" not in raw and b"manifest.json" not in raw
    assert raw.startswith(file_sealing.MAGIC)


@pytest.mark.obligation("DPA-B.integrity")
def test_an_altered_cut_or_moved_sealed_file_does_not_open(acme):
    import io

    export_id = _run_export(acme)
    with tenant_context(db.session.get(Tenant, acme)):
        key = export.get(export_id).storage_key
    good = storage.storage().get(key)

    def opens(blob: bytes, purpose: str = key) -> bytes:
        with tenant_context(db.session.get(Tenant, acme)):
            return b"".join(file_sealing.open_stream(io.BytesIO(blob), tenant_id=acme, purpose=purpose))

    assert opens(good)[:2] == b"PK"
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 1
    for bad in (bytes(flipped), good[:-1], good[: len(good) // 2], good + b"\0" * 40):
        with pytest.raises(file_sealing.FileSealError):
            opens(bad)
    with pytest.raises(file_sealing.FileSealError):
        opens(good, purpose=f"tenants/{acme}/exports/{uuid.uuid4()}.zip.enc")
    # Several chunks: dropping the last whole chunk, or swapping two, is refused too.
    with tenant_context(db.session.get(Tenant, acme)):
        payload = secrets.token_bytes(50_000)
        sealed = file_sealing.SealingReader(io.BytesIO(payload), tenant_id=acme, purpose="p", chunk_size=10_000).read()
    header = 8 + 1 + 4 + 4
    size = 12 + 1 + 4 + 10_000 + 16
    chunks = [sealed[header + i * size: header + (i + 1) * size] for i in range(5)]
    assert b"".join(file_sealing.open_stream(io.BytesIO(sealed), tenant_id=acme, purpose="p")) == payload
    for bad in (sealed[:header] + b"".join(chunks[:4]),
                sealed[:header] + chunks[1] + chunks[0] + b"".join(chunks[2:])):
        with pytest.raises(file_sealing.FileSealError):
            b"".join(file_sealing.open_stream(io.BytesIO(bad), tenant_id=acme, purpose="p"))


@pytest.mark.obligation("DPA-4.10")
def test_the_download_link_works_for_7_days_then_the_sweep_removes_the_file(acme, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    export_id = _run_export(acme)
    with tenant_context(db.session.get(Tenant, acme)):
        done = export.get(export_id)
        key, expires = done.storage_key, done.expires_at
    assert expires == clock.now() + timedelta(days=7)
    time_machine.move_to(expires - timedelta(minutes=1), tick=False)
    assert export.sweep(clock.now()) == 0
    assert _download(acme, export_id)[:2] == b"PK"
    time_machine.move_to(expires, tick=False)
    with tenant_context(db.session.get(Tenant, acme)), pytest.raises(export.NotAvailable):
        export.download(export.get(export_id))
    assert storage.storage().exists(key)
    assert export.sweep(clock.now()) == 1
    db.session.commit()
    assert not storage.storage().exists(key)
    assert export.sweep(clock.now()) == 0


@pytest.mark.obligation("DPA-4.10")
def test_memory_stays_flat_rows_are_read_in_batches(app_ctx, monkeypatch):
    """A few thousand contacts with a small batch: the contacts are read by one query (one
    snapshot, one sort), fetched a batch at a time (on PostgreSQL through a server-side cursor),
    and the rows are never gathered in a list."""
    tenant = make_seeded_tenant("bulk", contacts_n=1)
    cipher_rows = []
    with tenant_context(tenant):
        from tenantry.tenants.crm.models import Contact

        for i in range(3000):
            cid = uuid.uuid4()
            cipher_rows.append({"id": cid, "tenant_id": tenant.id, "created_at": clock.now(),
                                "updated_at": clock.now(), "first_name": fields.encrypt(
                                    f"Person {i}", tenant_id=tenant.id, table="contacts", column="first_name",
                                    row_id=cid)})
        db.session.execute(sa.insert(Contact.__table__), cipher_rows)
    db.session.commit()
    cipher_rows.clear()
    monkeypatch.setattr(archive, "BATCH", 250)
    seen: list[tuple[str, int]] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "FROM contacts" in statement and "count(" not in statement.lower():
            seen.append((statement, context.execution_options, type(cursor).__name__))

    sa.event.listen(db.engine, "after_cursor_execute", watch)
    try:
        import io

        with tenant_context(db.session.get(Tenant, tenant.id)):
            out = io.BytesIO()
            written = archive.write(db.session.get(Tenant, tenant.id), out)
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", watch)
    assert written.row_counts["contacts"] == 3001
    assert len(seen) == 1, seen
    statement, options, cursor = seen[0]
    assert options.get("yield_per") == 250 and options.get("stream_results") is True
    assert "LIMIT" not in statement
    if db.engine.dialect.name == "postgresql":
        assert cursor == "ServerCursor"  # fetched from the server 250 rows at a time
