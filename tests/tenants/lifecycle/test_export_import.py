"""`flask tenantry import-export SLUG FILE`: an export imported into a new, empty tenant equals
the original (ids are new and mapped; values re-encrypted under the new tenant's keys)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform import clock, jobs
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import board, contacts, custom_fields, deals, lost_reasons, search, stages
from tenantry.tenants.crm.models import Activity, Contact, Deal
from tenantry.tenants.lifecycle import export, import_export
from tests import factories
from tests.identity.support import flask_cli
from tests.tenants.lifecycle.export_support import CRM, entity, make_seeded_tenant, normalised, open_zip


def _export_bytes(tenant_id) -> bytes:
    with tenant_context(db.session.get(Tenant, tenant_id)):
        export_id = export.request().id
    db.session.commit()
    jobs.drain()
    with tenant_context(db.session.get(Tenant, tenant_id)):
        return b"".join(export.download(export.get(export_id)))


@pytest.mark.obligation("DPA-4.10", "DSR-portability")
def test_export_import_export_round_trip_equals_the_original(app, app_ctx, tmp_path):
    a = make_seeded_tenant("source")
    b = factories.make_tenant("target")
    with tenant_context(a):
        # A data subject's restriction and objection must survive the round trip [DSR-restrict].
        searched = {c.id for q in ("jana1@example.com", "Nováková2") for c, _ in contacts.listing(q=q).items}
        marked = db.session.execute(sa.select(Contact).where(Contact.id.not_in(searched))).scalars().first()
        marked.restricted_at = marked.objected_at = clock.now().replace(microsecond=0)
        # A lost deal keeps the reason it was lost for, mapped to the copy's own list.
        lost = next(s for s in stages.ensure_defaults() if s.is_lost)
        board.move(db.session.execute(sa.select(Deal)).scalars().one(), lost.id)
        deals.set_lost_reason(db.session.execute(sa.select(Deal)).scalars().one(),
                              lost_reasons.ensure_defaults()[1].id)
        # And its own win probability, for when it is opened again.
        db.session.execute(sa.select(Deal)).scalars().one().probability = 35
    db.session.commit()
    a_id, b_id = a.id, b.id
    original = _export_bytes(a_id)
    path = tmp_path / "export.zip"
    path.write_bytes(original)

    result = flask_cli(app, "tenantry", "import-export", "target", str(path), "--with-members")
    assert result.exit_code == 0, result.output
    assert "contacts=3" in result.output and "members=1" in result.output

    copy = open_zip(_export_bytes(b_id))
    source = open_zip(original)
    ids = _pair_ids(source, copy)
    assert len(set(ids.values())) == len(ids) and not set(ids) & set(ids.values())  # every id is new
    for name in CRM:
        assert normalised(entity(source, name), ids) == normalised(entity(copy, name)), name
    assert [c["restricted_at"] is not None for c in entity(copy, "contacts")].count(True) == 1
    # The deal keeps its owner: the source's owner became a member of the target (--with-members).
    assert entity(copy, "deals")[0]["owner_id"] == entity(source, "deals")[0]["owner_id"] is not None
    # So does the activity assigned to that member.
    assert {a["owner_id"] for a in entity(copy, "activities")} == {a["owner_id"] for a in entity(source, "activities")}
    assert entity(source, "deals")[0]["owner_id"] in {a["owner_id"] for a in entity(source, "activities")}
    # And the task its due date and time.
    assert [(a["due_on"], a["due_time"]) for a in entity(copy, "activities") if a["due_time"]] == [
        ("2027-01-15", "09:30:00")]
    (reason,) = [r["name"] for r in entity(copy, "lost_reasons") if r["id"] == entity(copy, "deals")[0]["lost_reason_id"]]
    assert reason == lost_reasons.DEFAULTS[1]
    assert entity(copy, "deals")[0]["probability"] == 35
    # The stages their win probabilities (the defaults differ per stage).
    assert sorted((s["position"], s["name"], s["probability"]) for s in entity(copy, "pipeline_stages")) == [
        (1, "Lead", 10), (2, "Qualified", 25), (3, "Proposal", 50), (4, "Negotiation", 75), (5, "Won", 100),
        (6, "Lost", 0)]
    assert {m["email"] for m in entity(copy, "members")} >= {m["email"] for m in entity(source, "members")}
    # Search works in the new tenant: its blind indexes were rebuilt under its own key.
    with tenant_context(db.session.get(Tenant, b_id)):
        assert contacts.listing(q="jana1@example.com").total == 1
        assert contacts.listing(q="Nováková2").total == 1
        assert db.session.execute(search.matching("company", "25596641")).first() is not None
        # Tags too: the archive's contacts carry their tag digests from the start.
        assert len(db.session.scalars(search.tagged("contact", "VIP")).all()) == 3
        # And deal titles, so that the index can be current however the tenant came to be.
        assert db.session.execute(search.matching("deal", "renewal")).first() is not None
        # And custom values their digests, for the contact list's filter by a field.
        (tier,) = custom_fields.definitions()
        held = db.session.scalars(sa.select(custom_fields.CustomValue.digest)).all()
        assert len(held) == 3 and held.count(custom_fields.digest(b_id, tier.id, "GOLD 2")) == 1


def _pair_ids(source, copy) -> dict[str, str]:
    """old id -> new id, pairing rows by their content without ids (the seeded rows are distinct)."""
    ids: dict[str, str] = {}
    for name in CRM:
        def key(row):
            return tuple(sorted((k, str(v)) for k, v in row.items()
                                if k not in ("id", "company_id", "contact_id", "deal_id", "stage_id", "owner_id",
                                              "field_id", "lost_reason_id")))
        new_by_key = {key(r): r["id"] for r in entity(copy, name)}
        for row in entity(source, name):
            ids[row["id"]] = new_by_key[key(row)]
    return ids


def test_import_refuses_a_tenant_that_is_not_empty_and_leaves_it_unchanged(app, app_ctx, tmp_path):
    a = make_seeded_tenant("source")
    make_seeded_tenant("busy", contacts_n=1)
    db.session.commit()
    path = tmp_path / "export.zip"
    path.write_bytes(_export_bytes(a.id))
    result = flask_cli(app, "tenantry", "import-export", "busy", str(path))
    assert result.exit_code != 0 and "not empty" in result.output
    with tenant_context(busy := db.session.get(Tenant, factories_id("busy"))):
        assert import_export.crm_row_count(busy) == 1 + 1 + 1 + 2 + 1  # with its custom field


def factories_id(slug):
    from tenantry.platform.tenancy import get_by_slug

    return get_by_slug(slug).id


def test_import_refuses_an_altered_archive(app, app_ctx, tmp_path):
    import io
    import zipfile

    a = make_seeded_tenant("source")
    factories.make_tenant("target")
    db.session.commit()
    original = open_zip(_export_bytes(a.id))
    altered = io.BytesIO()
    with zipfile.ZipFile(altered, "w") as zf:
        for name in original.namelist():
            data = original.read(name)
            if name == "contacts.json":
                data = data.replace("Nováková1".encode(), b"Someone Else")
            zf.writestr(name, data)
    path = tmp_path / "altered.zip"
    path.write_bytes(altered.getvalue())
    result = flask_cli(app, "tenantry", "import-export", "target", str(path))
    assert result.exit_code != 0 and "contacts.json does not match its SHA-256" in result.output
    not_zip = tmp_path / "nope.zip"
    not_zip.write_bytes(b"hello")
    assert "not a ZIP file" in flask_cli(app, "tenantry", "import-export", "target", str(not_zip)).output


def test_an_export_made_before_rows_recorded_changed_at_takes_their_last_edit(app, app_ctx, tmp_path):
    """Archives written before migration 0033 have no changed_at: an import takes what the
    migration took (the last edit; an activity's creation or completion, whichever is later)."""
    source = make_seeded_tenant("source")
    factories.make_tenant("target")
    with tenant_context(source):
        done = db.session.execute(sa.select(Activity)).scalars().first()
        done.done, done.done_at = True, clock.now() + timedelta(hours=1)
    db.session.commit()
    original = open_zip(_export_bytes(source.id))
    manifest = json.loads(original.read("manifest.json"))
    older = io.BytesIO()
    with zipfile.ZipFile(older, "w") as zf:
        for name in original.namelist():
            data = original.read(name)
            if name in ("companies.json", "contacts.json", "deals.json", "activities.json"):
                rows = json.loads(data)
                for row in rows:
                    del row["changed_at"]
                # The archive's own layout: one row a line, which the import streams.
                data = ("[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]\n").encode()
                manifest["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
            if name != "manifest.json":
                zf.writestr(name, data)
        zf.writestr("manifest.json", json.dumps(manifest))
    path = tmp_path / "older.zip"
    path.write_bytes(older.getvalue())
    result = flask_cli(app, "tenantry", "import-export", "target", str(path))
    assert result.exit_code == 0, result.output
    target = db.session.execute(sa.select(Tenant).where(Tenant.slug == "target")).scalar_one()
    copy = open_zip(_export_bytes(target.id))
    for name in ("companies", "contacts", "deals"):
        assert all(row["changed_at"] == row["updated_at"] for row in entity(copy, name)), name
    activities = entity(copy, "activities")
    assert any(a["done_at"] for a in activities)
    assert all(a["changed_at"] == max(a["created_at"], a["done_at"] or a["created_at"]) for a in activities)


@pytest.mark.obligation("DPA-A.special")
def test_special_categories_are_imported_only_under_the_receiving_tenants_agreement(app, app_ctx, tmp_path):
    from datetime import date

    from tenantry.dpa import special_categories

    def agree(tenant):
        special_categories.record(tenant.id, special_categories.AgreementData(
            reference="Annex 3", signed_by="Jan Novák, CEO", signed_on=date(2026, 1, 5), categories=["health"],
            scope="Allergies of event guests"), staff=factories.make_staff("dpo"))

    a = make_seeded_tenant("source")
    with tenant_context(a):
        agree(a)
        allergy = custom_fields.create(custom_fields.DefinitionData(
            label="Allergy", key="allergy", type="text", options=[], required=False, special_category=True))
        for contact in db.session.scalars(sa.select(Contact)).all():
            custom_fields.save(contact, {allergy.id: "Peanuts"}, only=[allergy])
    target = factories.make_tenant("target")
    db.session.commit()
    a_id, target_id = a.id, target.id
    path = tmp_path / "export.zip"
    path.write_bytes(_export_bytes(a_id))

    # The source's agreement does not travel with its data: refused, and nothing written.
    refused = flask_cli(app, "tenantry", "import-export", "target", str(path))
    assert refused.exit_code != 0
    assert "special categories of personal data (GDPR art. 9) in custom fields Allergy" in refused.output
    assert "no active agreement" in refused.output
    target = db.session.get(Tenant, target_id)
    assert import_export.crm_row_count(target) == 0

    with tenant_context(target):
        agree(target)
    db.session.commit()
    imported = flask_cli(app, "tenantry", "import-export", "target", str(path))
    assert imported.exit_code == 0, imported.output
    with tenant_context(db.session.get(Tenant, target_id)):
        held = {d.key: d for d in custom_fields.definitions()}
        assert held["allergy"].special_category
        rows = db.session.scalars(sa.select(custom_fields.CustomValue)).all()
        by_field = {key: [r.digest for r in rows if r.field_id == d.id] for key, d in held.items()}
        # A special category's values carry no blind index (they are filtered by decrypting).
        assert by_field["allergy"] == [None] * 3
        assert len(by_field["tier"]) == 3 and all(by_field["tier"])
        assert contacts.listing(custom=custom_fields.value_filter("allergy", "peanuts").condition).total == 3
