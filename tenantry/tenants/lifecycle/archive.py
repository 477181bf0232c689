"""The archive format shared by exports and backups: a ZIP of one JSON and one CSV file per
entity plus manifest.json (format version, tenant, creation time, row counts, SHA-256 of
every file).

Written as a stream: rows are fetched in batches from one query per entity (never a list of all rows), each row is
decrypted, appended to the entity's JSON array (one object per line) inside the ZIP and to
its CSV in a spooled temporary file at the same time; the CSV is copied in after the JSON.
Memory therefore stays at one batch plus one ZIP buffer however large the tenant.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.audit import AuditEvent
from tenantry.platform.crypto import fields
from tenantry.platform.csv_cells import safe_cell
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant
from tenantry.tenants.crm.custom_fields import CustomField, CustomValue
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal, LostReason, PipelineStage

FORMAT_VERSION = 1
BATCH = 2000
JSON_LAYOUT = "a JSON array, one object per line"
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# fields.TenantCipher(tenant_id).decrypt: (blob, table, column, row id) -> plaintext
Decrypt = Callable[[Any, str, str, str], Any]


class ArchiveError(ValueError):
    """The file is not an archive this version can read, or it was altered."""


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass
class Entity:
    """One file pair of the archive. `rows(tenant, decrypt)` yields dicts in `columns` order."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[Tenant, Decrypt], Iterator[dict[str, Any]]]
    count: Callable[[Tenant], int]


def _stream(model, tenant_id, key_column, columns: list) -> Iterator[Any]:
    """The tenant's rows ordered by `key_column`, from one query fetched BATCH rows at a time
    (a server-side cursor on PostgreSQL): one consistent snapshot of the entity, and one sort.
    Keyset batches would scan the rest of the table again for every batch whenever the planner
    lacks fresh statistics (a tenant just imported): quadratic in the tenant's size."""
    stmt = sa.select(*columns).where(model.tenant_id == tenant_id).order_by(key_column)
    result = db.session.execute(stmt, execution_options={"yield_per": BATCH})
    try:
        yield from result
    finally:
        result.close()


def _count(model, *where) -> Callable[[Tenant], int]:
    def count(tenant: Tenant) -> int:
        return db.session.execute(sa.select(sa.func.count()).select_from(model)
                                  .where(model.tenant_id == tenant.id, *where)).scalar_one()
    return count


def _sealed_rows(model, clear: tuple[str, ...]):
    table = model.__tablename__
    lists = set(getattr(model, "LISTS", ()))
    sealed = model.ENCRYPTED

    def rows(tenant: Tenant, decrypt: Decrypt) -> Iterator[dict[str, Any]]:
        cols = [getattr(model, c) for c in ("id", *clear, *sealed)]
        n_clear = len(clear)
        for row in _stream(model, tenant.id, model.id, cols):
            row_id = str(row[0])
            out = {"id": row_id}
            for name, value in zip(clear, row[1:1 + n_clear], strict=True):
                out[name] = _plain(value)
            for column, blob in zip(sealed, row[1 + n_clear:], strict=True):
                value = decrypt(blob, table, column, row_id)
                if column in lists:
                    out[column] = json.loads(value) if value else []
                else:
                    out[column] = value if value is not None else ""
            yield out
    return rows


def _plain_entity(name: str, model, columns: tuple[str, ...]) -> Entity:
    """An entity stored without sealed columns, written as it is (ids, dates, flags)."""
    def rows(tenant: Tenant, _decrypt) -> Iterator[dict[str, Any]]:
        cols = [getattr(model, c) for c in columns]
        for row in _stream(model, tenant.id, model.id, cols):
            yield {k: _plain(v) for k, v in row._mapping.items()}
    return Entity(name, columns, rows, _count(model))


def _member_rows(tenant: Tenant, _decrypt) -> Iterator[dict[str, Any]]:
    stmt = (sa.select(Membership.id, Membership.user_id, User.email, User.name, Membership.role,
                      Membership.created_at)
            .join(User, User.id == Membership.user_id).where(Membership.tenant_id == tenant.id)
            .order_by(Membership.id))
    for row in db.session.execute(stmt):
        yield {k: _plain(v) for k, v in row._mapping.items()}


ENTITIES: list[Entity] = [
    _plain_entity("pipeline_stages", PipelineStage, ("id", "name", "position", "is_won", "is_lost", "probability",
                                                     "created_at")),
    _plain_entity("lost_reasons", LostReason, ("id", "name", "position", "created_at")),
    Entity("companies", ("id", "country", "created_at", "updated_at", "changed_at", *Company.ENCRYPTED),
           _sealed_rows(Company, ("country", "created_at", "updated_at", "changed_at")), _count(Company)),
    # Restricted contacts [DSR-restrict] stay in the full export and the backups, flagged by
    # restricted_at (and objected_at): restriction means kept but not used, and these archives
    # are how it is kept (restore, return of data at the end of the service); leaving them out
    # would lose the data. The CSV list exports, which are use, skip them (crm.csv_export).
    Entity("contacts", ("id", "company_id", "created_at", "updated_at", "changed_at", "restricted_at",
                        "objected_at", *Contact.ENCRYPTED),
           _sealed_rows(Contact, ("company_id", "created_at", "updated_at", "changed_at", "restricted_at",
                                  "objected_at")),
           _count(Contact)),
    # Definitions, then each contact's values (sealed like every other value).
    _plain_entity("custom_fields", CustomField, ("id", "key", "label", "type", "options", "required",
                                                 "special_category", "position", "created_at", "updated_at")),
    Entity("custom_field_values", ("id", "contact_id", "field_id", "updated_at", *CustomValue.ENCRYPTED),
           _sealed_rows(CustomValue, ("contact_id", "field_id", "updated_at")), _count(CustomValue)),
    Entity("deals", ("id", "value", "currency", "stage_id", "expected_close", "contact_id", "company_id",
                     "owner_id", "created_at", "updated_at", "changed_at", "stage_changed_at", "lost_reason_id",
                     "probability", *Deal.ENCRYPTED),
           _sealed_rows(Deal, ("value", "currency", "stage_id", "expected_close", "contact_id", "company_id",
                               "owner_id", "created_at", "updated_at", "changed_at", "stage_changed_at",
                               "lost_reason_id", "probability")),
           _count(Deal)),
    Entity("activities", ("id", "kind", "due_on", "due_time", "done", "done_at", "contact_id", "company_id",
                          "deal_id", "owner_id", "created_at", "changed_at", *Activity.ENCRYPTED),
           _sealed_rows(Activity, ("kind", "due_on", "due_time", "done", "done_at", "contact_id", "company_id",
                                   "deal_id", "owner_id", "created_at", "changed_at")), _count(Activity)),
    Entity("members", ("id", "user_id", "email", "name", "role", "created_at"), _member_rows, _count(Membership)),
    # The trail of this tenant as stored (it holds ids, never personal values); `hash` lets the
    # controller re-check the chain offline.
    _plain_entity("audit_trail", AuditEvent, ("id", "seq", "occurred_at", "actor_type", "actor_id", "action",
                                              "target_type", "target_id", "outcome", "ip", "user_agent",
                                              "details", "hash")),
]


def register_entity(entity: Entity, *, before: str | None = None) -> None:
    """Other areas add their own tenant data to every export and backup (e.g. custom fields:
    definitions and values) by registering an Entity at app creation."""
    if any(e.name == entity.name for e in ENTITIES):
        return
    index = next((i for i, e in enumerate(ENTITIES) if e.name == before), len(ENTITIES))
    ENTITIES.insert(index, entity)


class _Hashing:
    """Counts and hashes what is written through it."""

    def __init__(self, target: IO[bytes]):
        self.target, self.sha256, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)


@dataclass
class Written:
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def write(tenant: Tenant, out: IO[bytes], *, progress: Callable[[int, int], None] | None = None,
          created_at: datetime | None = None) -> Written:
    """Write the whole archive of `tenant` to the binary stream `out` (seekable not needed)."""
    decrypt = fields.TenantCipher(tenant.id).decrypt  # one key look-up per version for the archive
    totals = {e.name: e.count(tenant) for e in ENTITIES}
    grand_total, done = max(1, sum(totals.values())), 0
    result = Written()
    # Level 1: most of an archive is already-random identifiers and hashes; higher levels cost
    # much CPU for little gain.
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for entity in ENTITIES:
            csv_spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
            csv_text = io.TextIOWrapper(csv_spool, encoding="utf-8", newline="")
            csv_out = csv.writer(csv_text)
            csv_out.writerow([safe_cell(c) for c in entity.columns])
            count = 0
            with zf.open(f"{entity.name}.json", "w", force_zip64=True) as raw:
                js = _Hashing(raw)
                js.write(b"[")
                for row in entity.rows(tenant, decrypt):
                    js.write((b",\n" if count else b"\n") + _JSON.encode(row).encode())
                    csv_out.writerow(map(safe_cell, map(row.get, entity.columns)))
                    count += 1
                    done += 1
                    if progress is not None and done % BATCH == 0:
                        progress(done, grand_total)
                js.write(b"\n]\n")
            result.files[f"{entity.name}.json"] = {"sha256": js.sha256.hexdigest(), "bytes": js.size}
            csv_text.flush()
            csv_text.detach()
            csv_spool.seek(0)
            with zf.open(f"{entity.name}.csv", "w", force_zip64=True) as raw:
                csv_hash = _Hashing(raw)
                while chunk := csv_spool.read(1024 * 1024):
                    csv_hash.write(chunk)
            csv_spool.close()
            result.files[f"{entity.name}.csv"] = {"sha256": csv_hash.sha256.hexdigest(), "bytes": csv_hash.size}
            result.row_counts[entity.name] = count
        manifest = {
            "format": "tenantry-export",
            "format_version": FORMAT_VERSION,
            "json_layout": JSON_LAYOUT,
            "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name, "country": tenant.country},
            "created_at": (created_at or clock.now()).isoformat(),
            "row_counts": result.row_counts,
            "files": result.files,
        }
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    if progress is not None:
        progress(grand_total, grand_total)
    return result


# --- reading ------------------------------------------------------------------------------


class Reader:
    """An archive opened for import: the manifest checked and every file's SHA-256 verified
    before any row is read."""

    def __init__(self, path_or_file):
        try:
            self.zip = zipfile.ZipFile(path_or_file)
        except zipfile.BadZipFile as exc:
            raise ArchiveError("not a ZIP file") from exc
        try:
            self.manifest = json.loads(self.zip.read("manifest.json"))
        except (KeyError, ValueError) as exc:
            raise ArchiveError("the archive has no readable manifest.json") from exc
        if self.manifest.get("format") != "tenantry-export" or self.manifest.get("format_version") != FORMAT_VERSION:
            raise ArchiveError("not a Tenantry export of a format this version reads")
        for name, meta in self.manifest.get("files", {}).items():
            digest = hashlib.sha256()
            try:
                with self.zip.open(name) as fh:
                    for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                        digest.update(chunk)
            except KeyError as exc:
                raise ArchiveError(f"{name} is listed in the manifest but missing") from exc
            if digest.hexdigest() != meta.get("sha256"):
                raise ArchiveError(f"{name} does not match its SHA-256 in the manifest")

    def rows(self, entity: str) -> Iterator[dict[str, Any]]:
        name = f"{entity}.json"
        if name not in self.manifest.get("files", {}):
            return
        with self.zip.open(name) as fh:
            for raw in fh:
                line = raw.strip()
                if line in (b"[", b"]", b""):
                    continue
                yield json.loads(line.rstrip(b","))

    def close(self) -> None:
        self.zip.close()
