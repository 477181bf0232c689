"""Importing an export (the plain ZIP as downloaded) into a new, empty tenant.

Every value is encrypted again under the receiving tenant's keys and bound to the new row,
and the blind indexes are rebuilt with its index key. Rows get new ids (ids are the primary
keys across all tenants, and the source tenant usually still exists); references between
rows are mapped, and `Imported.ids` maps each old id to its new one. The source's audit
trail is not replayed into the receiving tenant's chain (its events describe another
tenant's history, and the chain is the receiving tenant's own record): the import is
recorded there as one `tenant.imported` event, and the export keeps the original trail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tenantry.dpa import special_categories
from tenantry.platform import audit
from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, User
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import custom_fields
from tenantry.tenants.crm.custom_fields import CustomField, CustomValue
from tenantry.tenants.crm.models import (
    COMPANY,
    CONTACT,
    DEAL,
    Activity,
    Company,
    Contact,
    Deal,
    LostReason,
    PipelineStage,
    SearchIndex,
)

from .archive import Reader

BATCH = 1000


class ImportRefused(ValueError):
    """The receiving tenant is not empty, the file is not an archive this version reads, or it
    holds special categories of personal data that the receiving tenant has no agreement for."""


@dataclass
class Imported:
    ids: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    members_skipped: int = 0


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _changed(r: dict, before_it_existed: str) -> datetime:
    """When the row last changed, as exported; an export made before rows recorded it (0033):
    what migration 0033 took, its last edit (an activity: its creation or completion)."""
    return _when(r.get("changed_at") or before_it_existed)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _clock(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


def crm_row_count(tenant: Tenant) -> int:
    with tenant_context(tenant):
        return sum(db.session.execute(sa.select(sa.func.count()).select_from(m).where(m.tenant_id == tenant.id))
                   .scalar_one() for m in (Company, Contact, Deal, Activity, CustomField))


def _batched(rows: Iterable[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Writer:
    def __init__(self, tenant: Tenant, result: Imported):
        self.tenant, self.tid, self.result = tenant, tenant.id, result
        self.index: list[dict] = []
        self.unindexed: set[uuid.UUID] = set()  # the archive's special-category fields

    def new_id(self, old: str | None) -> uuid.UUID | None:
        if old is None:
            return None
        new = uuid.uuid4()
        self.result.ids[old] = str(new)
        return new

    def mapped(self, old: str | None) -> uuid.UUID | None:
        if old is None:
            return None
        if old not in self.result.ids:
            raise ImportRefused(f"the archive refers to {old}, which it does not contain")
        return uuid.UUID(self.result.ids[old])

    def seal(self, model, row_id: uuid.UUID, source: dict) -> dict[str, Any]:
        out = {}
        lists = getattr(model, "LISTS", ())
        for column in model.ENCRYPTED:
            value = source.get(column)
            if column in lists:
                value = json.dumps(list(value), ensure_ascii=False) if value else None
            else:
                value = value or None
            out[column] = fields.encrypt(value, tenant_id=self.tid, table=model.__tablename__, column=column,
                                         row_id=row_id)
        return out

    def digests(self, entity: str, row_id: uuid.UUID, *, emails=(), phones=(), company_ids=(), names=(),
                tags=()) -> None:
        pairs: set[tuple[str, str]] = set()
        for kind, values in (("email", emails), ("phone", phones), ("company_id", company_ids), ("tag", tags)):
            for value in values:
                if isinstance(value, str) and value.strip():
                    try:
                        pairs.add((kind, fields.blind_index(kind, value, tenant_id=self.tid)))
                    except ValueError:
                        continue  # not indexable (e.g. a phone stored before validation); still imported
        for name in names:
            if name:
                pairs.update(("name", d) for d in fields.name_indexes(name, tenant_id=self.tid, joined=True))
        self.index.extend({"tenant_id": self.tid, "entity": entity, "row_id": row_id, "kind": k, "digest": d}
                          for k, d in sorted(pairs))

    def insert(self, model, rows: list[dict]) -> None:
        if rows:
            db.session.execute(sa.insert(model.__table__), rows)
        if self.index:
            db.session.execute(sa.insert(SearchIndex.__table__), self.index)
            self.index = []


def import_archive(tenant: Tenant, source, *, with_members: bool = False, actor=None) -> Imported:
    """Import the archive at `source` (a path or binary file) into `tenant`, which must hold no
    CRM rows. All in the caller's transaction: an error leaves nothing behind once rolled back."""
    if crm_row_count(tenant):
        raise ImportRefused(f"tenant {tenant.slug} is not empty: import only into a new, empty tenant")
    try:
        reader = Reader(source)
    except ValueError as exc:
        raise ImportRefused(str(exc)) from exc
    result = Imported()
    try:
        with tenant_context(tenant):
            _check_special_categories(tenant, reader)
            _import(tenant, reader, result, with_members)
            audit.record("tenant.imported", actor=actor, actor_type=None if actor else "system", tenant_id=tenant.id,
                         target_type="tenant", target_id=tenant.id,
                         details={"source_tenant_id": reader.manifest["tenant"]["id"], "row_counts": result.counts})
    finally:
        reader.close()
    return result


def _check_special_categories(tenant: Tenant, reader: Reader) -> None:
    """Special categories of personal data are processed only under an agreement of the
    receiving tenant's own [DPA-A.special]: the source's does not travel with its data."""
    special = [r["label"] for r in reader.rows("custom_fields") if r["special_category"]]
    if special and special_categories.active(tenant.id) is None:
        raise ImportRefused(
            f"the archive holds special categories of personal data (GDPR art. 9) in custom fields "
            f"{', '.join(special)}, and tenant {tenant.slug} has no active agreement for them: "
            "staff must record one before the import")


def _import(tenant: Tenant, reader: Reader, result: Imported, with_members: bool) -> None:
    w = _Writer(tenant, result)
    tid = tenant.id
    # Default stages and reasons seeded by opening the deals pages are replaced by the archive's
    # own (an archive from before lost reasons has none: the defaults are seeded again on use).
    db.session.execute(sa.delete(PipelineStage).where(PipelineStage.tenant_id == tid))
    db.session.execute(sa.delete(LostReason).where(LostReason.tenant_id == tid))

    members = list(reader.rows("members"))  # one row per person of the workspace: small
    emails = {m["user_id"]: m["email"].lower() for m in members}
    users = {u.email.lower(): u for u in db.session.execute(
        sa.select(User).where(sa.func.lower(User.email).in_(set(emails.values())))).scalars()} if emails else {}
    current = set(db.session.execute(sa.select(Membership.user_id).where(Membership.tenant_id == tid)).scalars())
    added = 0
    for m in members:
        user = users.get(m["email"].lower())
        if not with_members or (user is not None and user.id in current):
            continue
        if user is None:  # no account with that e-mail here: nobody is created on their behalf
            result.members_skipped += 1
            continue
        db.session.add(Membership(tenant_id=tid, user_id=user.id, role=m["role"], created_at=_when(m["created_at"])))
        current.add(user.id)
        added += 1
    db.session.flush()
    result.counts["members"] = added

    def owner(old_user_id: str | None) -> uuid.UUID | None:
        user = users.get(emails.get(old_user_id or "", ""))
        return user.id if user is not None and user.id in current else None

    steps = [
        ("pipeline_stages", PipelineStage, lambda r: {
            "id": w.new_id(r["id"]), "tenant_id": tid, "name": r["name"], "position": r["position"],
            "is_won": r["is_won"], "is_lost": r["is_lost"], "created_at": _when(r["created_at"]),
            # An export made before stages had a probability: as migration 0030 set them.
            "probability": r.get("probability", 0 if r["is_lost"] else 100)}),
        ("lost_reasons", LostReason, lambda r: {
            "id": w.new_id(r["id"]), "tenant_id": tid, "name": r["name"], "position": r["position"],
            "created_at": _when(r["created_at"])}),
        ("companies", Company, lambda r: _company(w, r)),
        ("contacts", Contact, lambda r: _contact(w, r)),
        ("custom_fields", CustomField, lambda r: _custom_field(w, r)),
        ("custom_field_values", CustomValue, lambda r: _custom_value(w, r)),
        ("deals", Deal, lambda r: _deal(w, r, owner)),
        ("activities", Activity, lambda r: _activity(w, r, owner)),
    ]
    for name, model, convert in steps:
        n = 0
        for batch in _batched(reader.rows(name)):
            w.insert(model, [convert(r) for r in batch])
            n += len(batch)
        result.counts[name] = n


def _company(w: _Writer, r: dict) -> dict:
    new = w.new_id(r["id"])
    w.digests(COMPANY, new, company_ids=[r.get("company_number"), r.get("vat_id")], names=[r.get("name")])
    return {"id": new, "tenant_id": w.tid, "country": r["country"], "created_at": _when(r["created_at"]),
            "updated_at": _when(r["updated_at"]), "changed_at": _changed(r, r["updated_at"]), **w.seal(Company, new, r)}


def _contact(w: _Writer, r: dict) -> dict:
    new = w.new_id(r["id"])
    w.digests(CONTACT, new, emails=r.get("emails") or [], phones=r.get("phones") or [],
              names=[r.get("first_name"), r.get("last_name")], tags=r.get("tags") or [])
    return {"id": new, "tenant_id": w.tid, "company_id": w.mapped(r.get("company_id")),
            "created_at": _when(r["created_at"]), "updated_at": _when(r["updated_at"]),
            "changed_at": _changed(r, r["updated_at"]),
            # A restriction or objection of a data subject outlives a restore [DSR-restrict, DSR-object].
            "restricted_at": _when(r.get("restricted_at")), "objected_at": _when(r.get("objected_at")),
            **w.seal(Contact, new, r)}


def _custom_field(w: _Writer, r: dict) -> dict:
    new = w.new_id(r["id"])
    if r["special_category"]:
        w.unindexed.add(new)
    return {"id": new, "tenant_id": w.tid, "key": r["key"], "label": r["label"], "type": r["type"],
            "options": list(r.get("options") or []), "required": r["required"],
            "special_category": r["special_category"], "position": r["position"],
            "created_at": _when(r["created_at"]), "updated_at": _when(r["updated_at"])}


def _custom_value(w: _Writer, r: dict) -> dict:
    new, field_id = w.new_id(r["id"]), w.mapped(r["field_id"])
    # A special category's values get no blind index (custom_fields' docstring says why).
    indexed = field_id not in w.unindexed
    return {"id": new, "tenant_id": w.tid, "contact_id": w.mapped(r["contact_id"]), "field_id": field_id,
            "updated_at": _when(r["updated_at"]), **w.seal(CustomValue, new, r),
            "digest": custom_fields.digest(w.tid, field_id, r.get("value") or "") if indexed else None}


def _deal(w: _Writer, r: dict, owner) -> dict:
    new = w.new_id(r["id"])
    w.digests(DEAL, new, names=[r.get("title")])
    return {"id": new, "tenant_id": w.tid, "value": Decimal(r["value"]), "currency": r["currency"],
            "stage_id": w.mapped(r["stage_id"]), "expected_close": _day(r.get("expected_close")),
            "contact_id": w.mapped(r.get("contact_id")), "company_id": w.mapped(r.get("company_id")),
            "owner_id": owner(r.get("owner_id")), "created_at": _when(r["created_at"]),
            "updated_at": _when(r["updated_at"]), "changed_at": _changed(r, r["updated_at"]),
            # An export made before deals recorded it: their last change, as the migration did.
            "stage_changed_at": _when(r.get("stage_changed_at") or r["updated_at"]),
            "lost_reason_id": w.mapped(r.get("lost_reason_id")),
            "probability": r.get("probability"),  # an export made before deals had one: the stage's
            **w.seal(Deal, new, r)}


def _activity(w: _Writer, r: dict, owner) -> dict:
    new = w.new_id(r["id"])
    # An export made before activities had a time of day has no due_time: the whole day.
    return {"id": new, "tenant_id": w.tid, "kind": r["kind"], "due_on": _day(r.get("due_on")),
            "due_time": _clock(r.get("due_time")), "done": r["done"],
            "done_at": _when(r.get("done_at")), "contact_id": w.mapped(r.get("contact_id")),
            "company_id": w.mapped(r.get("company_id")), "deal_id": w.mapped(r.get("deal_id")),
            # An export made before activities were assigned has no owner_id: nobody.
            "owner_id": owner(r.get("owner_id")), "created_at": _when(r["created_at"]),
            "changed_at": _changed(r, max(r["created_at"], r.get("done_at") or r["created_at"], key=_when)),
            **w.seal(Activity, new, r)}
