"""Reading a tenant's audit trail [DPA-B.logging, TT-activity-log]: filters, pages, a record's
history, and who each actor is. The pages, the CSV and the API all read through here.

Events are taken from the tenant's own hash chain, newest first, paged by `seq` (keyset: a
page never shifts when new events arrive, and deep pages cost the same as the first). A
record's history covers events that name it as their target and list reads whose ids include it.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from tenantry.platform import audit, audit_retention
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership, StaffUser, User
from tenantry.tenants import account_review

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_RETENTION_DAYS = audit_retention.DEFAULT_DAYS
RECORD_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
RECORD_TYPE = re.compile(r"^[a-z_]{1,40}$")
# Record types every workspace has, offered in the filter even before an event names them.
KNOWN_RECORD_TYPES = ("contact", "company", "deal", "activity", "membership", "invitation")


class FilterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Filters:
    actor_type: str | None = None
    actor_id: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def describe(self) -> dict[str, Any]:
        """The filters as the audit event of a viewing keeps them (ids and dates only)."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items() if v}


def parse_person(value: str) -> tuple[str | None, str | None]:
    """"user:<id>", "api_client:<id>" or "staff:<id>"; a bare id matches an actor of any kind."""
    value = (value or "").strip()
    if not value:
        return None, None
    kind, _, ident = value.rpartition(":")
    if not RECORD_ID.match(ident) or (kind and kind not in ("user", "api_client", "staff")):
        raise FilterError("actor", "Name a person as user:<id>, api_client:<id> or staff:<id>.")
    return kind or None, ident


def check_record(record_type: str | None, record_id: str | None) -> tuple[str | None, str | None]:
    record_type = (record_type or "").strip() or None
    record_id = (record_id or "").strip() or None
    if record_type and not RECORD_TYPE.match(record_type):
        raise FilterError("record_type", "Not a record type.")
    if record_id and not RECORD_ID.match(record_id):
        raise FilterError("record_id", "A record id is letters, digits and dashes only.")
    if record_id and not record_type:
        raise FilterError("record_type", "Choose the type of the record too.")
    return record_type, record_id


# --- local days ------------------------------------------------------------------------------


def day_range(since: date | None, until: date | None, zone: zoneinfo.ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """Whole local days: from the start of `since` to the end of `until`."""
    start = datetime.combine(since, time(0), zone).astimezone(UTC) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), zone).astimezone(UTC) if until else None
    return start, end


# --- queries --------------------------------------------------------------------------------


def _tenant_events(tenant_id: uuid.UUID):
    # The chain column leads the (chain, seq) unique index: ordering by seq within it is cheap.
    return sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.chain == str(tenant_id))


def _names_record(record_type: str, record_id: str):
    listed = sa.cast(AuditEvent.details, sa.Text).like(f'%"{record_id}"%')
    return sa.and_(AuditEvent.target_type == record_type,
                   sa.or_(AuditEvent.target_id == record_id, sa.and_(AuditEvent.target_id.is_(None), listed)))


def query(tenant_id: uuid.UUID, f: Filters):
    q = _tenant_events(tenant_id)
    if f.actor_id:
        q = q.where(AuditEvent.actor_id == f.actor_id)
    if f.actor_type:
        q = q.where(AuditEvent.actor_type == f.actor_type)
    if f.record_type and f.record_id:
        q = q.where(_names_record(f.record_type, f.record_id))
    elif f.record_type:
        q = q.where(AuditEvent.target_type == f.record_type)
    if f.action:
        q = q.where(AuditEvent.action == f.action)
    if f.since:
        q = q.where(AuditEvent.occurred_at >= f.since)
    if f.until:
        q = q.where(AuditEvent.occurred_at < f.until)
    return q


def page(tenant_id: uuid.UUID, f: Filters, *, before: int | None = None,
         limit: int = PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    """Up to `limit` events older than seq `before`, newest first, and the cursor of the next page."""
    q = query(tenant_id, f)
    if before is not None:
        q = q.where(AuditEvent.seq < before)
    rows = list(db.session.execute(q.order_by(AuditEvent.seq.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def iterate(tenant_id: uuid.UUID, f: Filters, batch: int = 500) -> Iterator[list[AuditEvent]]:
    """Every matching event in batches, newest first (for the CSV)."""
    before = None
    while True:
        rows, before = page(tenant_id, f, before=before, limit=batch)
        if rows:
            yield rows
        if before is None:
            return


def count(tenant_id: uuid.UUID, f: Filters) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(query(tenant_id, f).subquery())).scalar_one()


def get(tenant_id: uuid.UUID, event_id: int) -> AuditEvent | None:
    return db.session.execute(_tenant_events(tenant_id).where(AuditEvent.id == event_id)).scalar_one_or_none()


def history(tenant_id: uuid.UUID, record_type: str, record_id: str, *, before: int | None = None,
            limit: int = PAGE_SIZE) -> tuple[list[AuditEvent], int | None]:
    return page(tenant_id, Filters(record_type=record_type, record_id=record_id), before=before, limit=limit)


def actions(tenant_id: uuid.UUID) -> list[str]:
    return list(db.session.execute(
        sa.select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id).distinct().order_by(AuditEvent.action)
    ).scalars())


def record_types(tenant_id: uuid.UUID) -> list[str]:
    seen = set(db.session.execute(
        sa.select(AuditEvent.target_type).where(AuditEvent.tenant_id == tenant_id, AuditEvent.target_type.is_not(None))
        .distinct()).scalars())
    return sorted(seen | set(KNOWN_RECORD_TYPES))


def oldest(tenant_id: uuid.UUID) -> datetime | None:
    return db.session.execute(
        _tenant_events(tenant_id).with_only_columns(AuditEvent.occurred_at).order_by(AuditEvent.seq).limit(1)
    ).scalar_one_or_none()


def retention_days(tenant) -> int:
    # The audit core keeps the setting on the tenant; 400 days is the promised default, and the
    # retention sweep never keeps fewer than 30 (audit_retention.retention_days).
    return audit_retention.retention_days(tenant) if tenant is not None else DEFAULT_RETENTION_DAYS


def set_retention(tenant, days: int, *, actor) -> bool:
    """Keep the tenant's events `days` days (30 to 3650, audited); False when unchanged.
    Raises audit_retention.RetentionError outside the range: the database refuses below 30 too."""
    days = audit_retention.validate_days(days)
    old = tenant.audit_retention_days
    if old == days:
        return False
    tenant.audit_retention_days = days
    audit.record("audit.retention_changed", actor=actor, tenant_id=tenant.id, target_type="tenant",
                 target_id=tenant.id, details={"audit_retention_days": {"from": old, "to": days}})
    return True


# --- who, from where, what -------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    detail: str = ""
    support: bool = False


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def actors_of(events: list[AuditEvent]) -> dict[tuple[str, str | None], Actor]:
    """Who each event's actor is, looked up once per page."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for e in events:
        key = _uuid(e.actor_id)
        if key is not None:
            wanted.setdefault(e.actor_type, set()).add(key)
    found: dict[tuple[str, str | None], Actor] = {}
    if wanted.get("user"):
        for u in db.session.execute(sa.select(User).where(User.id.in_(wanted["user"]))).scalars():
            found[("user", str(u.id))] = Actor("user", u.name or u.email, u.email if u.name else "")
    if wanted.get("staff"):
        for s in db.session.execute(sa.select(StaffUser).where(StaffUser.id.in_(wanted["staff"]))).scalars():
            found[("staff", str(s.id))] = Actor("staff", f"Support ({s.display_name}) — support access",
                                                s.role, support=True)
    model = account_review.api_client_model()
    if wanted.get("api_client") and model is not None:
        for c in db.session.execute(sa.select(model).where(model.id.in_(wanted["api_client"]))).scalars():
            found[("api_client", str(c.id))] = Actor("api_client", getattr(c, "name", None) or "API client",
                                                     "API client")
    for e in events:
        key = (e.actor_type, e.actor_id)
        if key not in found:
            found[key] = _fallback(e)
    return found


def _fallback(e: AuditEvent) -> Actor:
    if e.actor_type == "system":
        return Actor("system", "Tenantry (automatic)")
    if e.actor_type == "anonymous":
        return Actor("anonymous", "Not signed in")
    if e.actor_type == "staff":
        return Actor("staff", "Support (former staff member) — support access", support=True)
    label = {"user": "Former account", "api_client": "Deleted API client"}.get(e.actor_type, e.actor_type)
    return Actor(e.actor_type, label, e.actor_id or "")


def people(tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """The person filter: members (also deactivated ones) and API clients."""
    choices = [(f"user:{u.id}", f"{u.display_name} <{u.email}>" if u.name else u.email)
               for u in db.session.execute(
                   sa.select(User).join(Membership, Membership.user_id == User.id).order_by(User.email)).scalars()]
    model = account_review.api_client_model()
    if model is not None:
        for c in db.session.execute(sa.select(model).order_by(model.name)).scalars():
            choices.append((f"api_client:{c.id}", f"API client: {c.name}"))
    return choices


_BROWSERS = re.compile(r"(Edg|OPR|Firefox|CriOS|Chrome|Version(?=/.*Safari)|curl|Wget|python-requests|"
                       r"python-httpx|PostmanRuntime|Go-http-client|okhttp)/(\d+)")
_SYSTEMS = (("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
_BROWSER_NAMES = {"Edg": "Edge", "OPR": "Opera", "CriOS": "Chrome", "Version": "Safari"}


def short_agent(agent: str | None) -> str:
    """"Firefox 128 on Linux" from a user agent string; its start when it is nothing known."""
    if not agent:
        return ""
    match = _BROWSERS.search(agent)
    system = next((name for token, name in _SYSTEMS if token in agent), "")
    if match:
        browser = f"{_BROWSER_NAMES.get(match.group(1), match.group(1))} {match.group(2)}"
        return f"{browser} on {system}" if system else browser
    return agent[:40] + ("…" if len(agent) > 40 else "")


# Namespaces a reader of the trail need not see, and words that read better spelled out.
_UNSAID = ("crm", "auth")
_WORDS = {"api_client": "API client", "dsr": "data subject", "dpa": "DPA", "tenant": "workspace",
          "membership": "member", "audit": "audit trail", "ropa": "records of processing", "keys": "key"}


def action_label(action: str) -> str:
    """"Contact created" for crm.contact.created: what the trail shows beside the exact code,
    which the filter and the CSV export keep."""
    parts = action.split(".")
    if len(parts) > 1 and parts[0] in _UNSAID:
        parts = parts[1:]
    text = " ".join(_WORDS.get(part, part.replace("_", " ")) for part in parts)
    return text[:1].upper() + text[1:]


def fields_of(event: AuditEvent) -> list[str]:
    """Names of the fields an event changed, as the audit core records them."""
    details = event.details or {}
    names = details.get("fields")
    if isinstance(names, list):
        return [str(n) for n in names]
    changes = details.get("changes")
    if isinstance(changes, dict):
        return sorted(str(k) for k in changes)
    return []


def read_ids(event: AuditEvent) -> list[str]:
    ids = (event.details or {}).get("ids")
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _shown(value: Any) -> Any:
    """A stored value as the event page shows it: lists (e-mails, phones, tags) one after another."""
    if isinstance(value, list):
        return ", ".join("" if v is None else str(v) for v in value) or None
    return value


WITHHELD = "(withheld: the field is deleted, or a special category no agreement covers now)"


def changes_of(event: AuditEvent) -> list[tuple[str, Any, Any]] | None:
    """Old and new values, decrypted under the tenant's key by the audit core (audit.changes_of);
    None when the event keeps field names only (a platform event, or no values recorded) or the
    values can no longer be read (a destroyed key, a damaged or moved ciphertext)."""
    if event.changes is None or event.tenant_id is None:
        return None
    try:
        values = audit.changes_of(event)
    except Exception:  # a destroyed key or a damaged value: the names are still shown
        return None
    from tenantry.tenants.crm import custom_fields

    # A custom value is shown only while its field takes values: not a special category's once
    # the agreement for it has ended, nor a deleted field's, whose values went with it.
    taking = {f"custom_fields.{d.key}" for d in custom_fields.usable()}
    return [(name, _shown(old), _shown(new)) if name in taking or not name.startswith("custom_fields.")
            else (name, WITHHELD if old else old, WITHHELD if new else new)
            for name, (old, new) in sorted(values.items())] or None



# Where a record lives in the product, for links from the trail.
RECORD_ENDPOINTS = {
    "contact": ("crm.contact_show", "contact_id"),
    "company": ("crm.company_show", "company_id"),
    "deal": ("crm.deal_show", "deal_id"),
}
