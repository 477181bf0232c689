"""Records of processing.

The processor's record for each tenant [ROPA-processor, TT-inventory] is built from live data:
the categories of personal data the tenant actually holds (counted by the modules that hold
them, through `register_category`), the subprocessors, transfers outside the EEA, the security
measures in force under the tenant's policy, and retention. Each generation is kept as a
snapshot; the sweep makes sure none is older than 30 days. The controller's own record
[ROPA-controller] is its list of processing activities.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from tenantry.dpa import terms
from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import Membership
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context

from .models import LEGAL_BASES, ProcessingActivity, RecordSnapshot

REFRESH_EVERY = timedelta(days=30)


@dataclass(frozen=True)
class Category:
    name: str
    data: str
    subjects: str
    counter: Callable[[uuid.UUID], int]


_categories: dict[str, Category] = {}
_retention_sources: list[Callable[[Tenant], list[dict[str, str]]]] = []


def register_category(name: str, counter: Callable[[uuid.UUID], int], *, data: str, subjects: str) -> None:
    """Modules that hold personal data say so here: `counter(tenant_id)` tells how many records of
    that category the tenant holds, called inside that tenant's context. Only categories with
    records appear in the tenant's record."""
    _categories[name] = Category(name, data, subjects, counter)


def register_retention(source: Callable[[Tenant], list[dict[str, str]]]) -> None:
    """Features that delete data on a schedule the tenant sets (retention rules) say so here:
    `source(tenant)` returns rows {"data", "rule"}, called inside that tenant's context."""
    if source not in _retention_sources:
        _retention_sources.append(source)


def _count_members(tenant_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Membership).where(Membership.tenant_id == tenant_id)
    ).scalar_one()


register_category("Workspace members' accounts", _count_members,
                  data="Name, e-mail address, password hash, two-factor secrets, sign-in history",
                  subjects="The tenant's users")


def registry_subprocessors(tenant: Tenant | None = None) -> list[dict[str, Any]]:
    """The subprocessors from the registry (tenantry.dpa.registry) that touch `tenant`'s data: those
    active for it (not proposed, objected to or withdrawn for it); without a tenant, every active
    one. [] while the registry has no models. Read by attribute, so a renamed column degrades to
    an empty cell rather than a broken record."""
    try:
        from tenantry.dpa.registry import models as registry_models
    except ImportError:
        return []
    model = getattr(registry_models, "Subprocessor", None)
    if model is None:
        return []
    subs = None
    if tenant is not None:
        try:
            from tenantry.dpa.registry import services as registry_services

            subs = [sub for sub, status, _row in registry_services.for_tenant(tenant) if str(status) == "active"]
        except (ImportError, AttributeError):
            subs = None
    if subs is None:
        subs = [r for r in db.session.execute(sa.select(model)).scalars()
                if str(getattr(r, "status", "active")) == "active"]
    found = []
    for row in subs:
        outside = bool(getattr(row, "outside_eea", False))
        try:
            mechanism = str(row.transfer_label) if outside else ""
        except (AttributeError, KeyError, ValueError):
            mechanism = str(getattr(row, "transfer_mechanism", "") or "")
        found.append({
            "name": str(getattr(row, "legal_name", None) or getattr(row, "name", "")),
            "purpose": str(getattr(row, "purpose", "") or ""),
            "country": str(getattr(row, "processing_location", None) or getattr(row, "country", "") or ""),
            "transfer_mechanism": mechanism,
            "outside_eea": outside,
        })
    return sorted(found, key=lambda s: s["name"])


def _security_measures(tenant: Tenant) -> list[dict[str, str]]:
    max_age = (f"passwords expire after {tenant.password_max_age_days} days" if tenant.password_max_age_days
               else "passwords do not expire")
    return [
        {"measure": "Two-factor authentication",
         "state": "required for every member" if tenant.require_2fa else "available to every member; always required for staff"},
        {"measure": "Password policy",
         "state": f"at least {tenant.password_min_length} characters, strength-checked; {max_age}"},
        {"measure": "Encryption at rest", "state": "AES-256-GCM under the tenant's own data keys (envelope encryption)"},
        {"measure": "Encryption in transit", "state": "TLS only, HSTS, secure cookies"},
        {"measure": "Backups", "state": "a full backup every day, encrypted under the tenant's key"},
        {"measure": "Logging", "state": "audit trail of access and changes, per user, kept at least 30 days"},
        {"measure": "Tenant isolation", "state": "every query scoped to the tenant; row-level security in the database"},
    ]


def _retention(tenant: Tenant) -> list[dict[str, str]]:
    backup_days = current_app.extensions["tenantry.settings"].backup_retention_days if has_app_context() else 30
    audit_days = getattr(tenant, "audit_retention_days", None) or 400
    rows = [
        {"data": "Workspace data", "rule": "kept while the workspace is active; irreversibly deleted 80 days after cancellation"},
        {"data": "Backups", "rule": f"daily, each kept {backup_days} days; purged with the workspace's data"},
        {"data": "Audit trail", "rule": f"kept {audit_days} days (never less than 30)"},
    ]
    for source in _retention_sources:
        rows.extend(source(tenant))
    if tenant.deletion_due_at is not None:
        rows.insert(0, {"data": "This workspace",
                        "rule": f"cancelled; deletion due {clock.aware(tenant.deletion_due_at):%Y-%m-%d}"})
    return rows


def activities(tenant_id: uuid.UUID) -> list[ProcessingActivity]:
    return list(db.session.execute(
        sa.select(ProcessingActivity).where(ProcessingActivity.tenant_id == tenant_id)
        .order_by(ProcessingActivity.name)
    ).scalars())


def build(tenant: Tenant, at: datetime | None = None) -> dict[str, Any]:
    """The tenant's record from live data, stamped `at` (now). Call inside the tenant's context."""
    categories = []
    for category in _categories.values():
        count = category.counter(tenant.id)
        if count:
            categories.append({"name": category.name, "data": category.data, "subjects": category.subjects,
                               "records": count})
    subprocessors = registry_subprocessors(tenant)
    base_url = current_app.extensions["tenantry.settings"].base_url if has_app_context() else ""
    return {
        "generated_at": (at or clock.now()).isoformat(timespec="seconds"),
        "controller": {"name": tenant.name, "slug": tenant.slug, "country": tenant.country,
                       "jurisdiction": tenant.jurisdiction, "contact": tenant.privacy_contact_email or ""},
        "processor": {"name": "Tenantry", "address": base_url},
        "processing": terms.render_terms(
            "Hosting and operating the Tenantry CRM on the [[controller]]'s instructions, only to provide that "
            "service: storage, retrieval, organisation, export and deletion of the [[controller]]'s data. "
            "[[Personal data]] is never sold nor used for any other purpose (agreement clause 7).",
            tenant.jurisdiction),
        "categories": categories,
        "subprocessors": subprocessors,
        "transfers": [s for s in subprocessors if s["outside_eea"]],
        "security_measures": _security_measures(tenant),
        "retention": _retention(tenant),
        "controller_activities": [
            {"name": a.name, "purpose": a.purpose, "legal_basis": LEGAL_BASES.get(a.legal_basis, a.legal_basis),
             "data_categories": a.data_categories, "subject_categories": a.subject_categories,
             "recipients": a.recipients, "retention": a.retention}
            for a in activities(tenant.id)
        ],
    }


def generate(tenant: Tenant, trigger: str = "download", at: datetime | None = None) -> RecordSnapshot:
    # The sweep stamps its own as-of time, so that running it again for the same time finds the
    # record fresh and does nothing.
    at = at or clock.now()
    snapshot = RecordSnapshot(tenant_id=tenant.id, trigger=trigger, generated_at=at, content=build(tenant, at))
    db.session.add(snapshot)
    return snapshot


def latest(tenant_id: uuid.UUID) -> RecordSnapshot | None:
    return db.session.execute(
        sa.select(RecordSnapshot).where(RecordSnapshot.tenant_id == tenant_id)
        .order_by(RecordSnapshot.generated_at.desc()).limit(1)
    ).scalar_one_or_none()


def sweep(as_of: datetime) -> int:
    """Regenerate every active tenant's record whose latest is 30 days old or missing; idempotent."""
    cutoff = as_of - REFRESH_EVERY
    with all_tenants():
        newest = (sa.select(RecordSnapshot.tenant_id, sa.func.max(RecordSnapshot.generated_at).label("at"))
                  .group_by(RecordSnapshot.tenant_id).subquery())
        due = list(db.session.execute(
            sa.select(Tenant).outerjoin(newest, newest.c.tenant_id == Tenant.id)
            .where(Tenant.status != TenantStatus.DELETED, sa.or_(newest.c.at.is_(None), newest.c.at <= cutoff))
            .order_by(Tenant.slug)
        ).scalars())
    for tenant in due:
        with tenant_context(tenant):
            generate(tenant, trigger="sweep", at=as_of)
    return len(due)


# --- rendering -----------------------------------------------------------------------------------

def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_None._", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _words(content: dict[str, Any]):
    """The documents' fixed words in the tenant's law [DPA-1.terms]; the data stays as it is."""
    jurisdiction = content["controller"].get("jurisdiction") or "gdpr"
    return lambda text: terms.render_terms(text, jurisdiction)


def to_markdown(content: dict[str, Any]) -> str:
    c = content
    w = _words(c)
    out = [f"# Record of processing: {_md_cell(c['controller']['name'])}", "",
           w(f"Generated {c['generated_at']} by the [[processor]], {c['processor']['name']}."), "",
           w("## [[Controller]]"), "",
           *_md_table(["Name", "Workspace", "Country", "Privacy contact"],
                      [[c["controller"]["name"], c["controller"]["slug"], c["controller"]["country"],
                        c["controller"]["contact"] or "not set"]]),
           w("## Processing on the [[controller]]'s behalf"), "", c["processing"], "",
           w("## Categories of [[personal data]] held"), "",
           *_md_table(["Category", "Data", w("[[Data subjects]]"), "Records"],
                      [[x["name"], x["data"], x["subjects"], x["records"]] for x in c["categories"]]),
           "## Subprocessors", "",
           *_md_table(["Name", "Purpose", "Country", "Transfer mechanism"],
                      [[s["name"], s["purpose"], s["country"], s["transfer_mechanism"] or "within the EEA"]
                       for s in c["subprocessors"]]),
           "## Transfers outside the EEA", "",
           *_md_table(["Recipient", "Country", "Mechanism"],
                      [[s["name"], s["country"], s["transfer_mechanism"]] for s in c["transfers"]]),
           "## Security measures in force", "",
           *_md_table(["Measure", "State"], [[m["measure"], m["state"]] for m in c["security_measures"]]),
           "## Retention", "",
           *_md_table(["Data", "Rule"], [[r["data"], r["rule"]] for r in c["retention"]]),
           w("## The [[controller]]'s own processing activities"), "",
           *_md_table(["Activity", "Purpose", "Legal basis", "Data", w("[[Data subjects]]"), "Recipients", "Retention"],
                      [[a["name"], a["purpose"], a["legal_basis"], a["data_categories"], a["subject_categories"],
                        a["recipients"], a["retention"]] for a in c["controller_activities"]])]
    return "\n".join(out).rstrip() + "\n"


def to_html(content: dict[str, Any]) -> str:
    """A self-contained HTML document (no scripts, no external styles) for download."""
    e = html.escape

    def table(headers: list[str], rows: list[list[Any]]) -> str:
        if not rows:
            return "<p><em>None.</em></p>"
        head = "".join(f"<th scope=\"col\">{e(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    c = content
    w = _words(c)
    parts = [
        "<!doctype html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Record of processing: {e(c['controller']['name'])}</title></head><body>",
        f"<h1>Record of processing: {e(c['controller']['name'])}</h1>",
        "<p>" + e(w(f"Generated {c['generated_at']} by the [[processor]], {c['processor']['name']}.")) + "</p>",
        f"<h2>{e(w('[[Controller]]'))}</h2>",
        table(["Name", "Workspace", "Country", "Privacy contact"],
              [[c["controller"]["name"], c["controller"]["slug"], c["controller"]["country"],
                c["controller"]["contact"] or "not set"]]),
        "<h2>" + e(w("Processing on the [[controller]]'s behalf")) + "</h2>", f"<p>{e(c['processing'])}</p>",
        f"<h2>{e(w('Categories of [[personal data]] held'))}</h2>",
        table(["Category", "Data", w("[[Data subjects]]"), "Records"],
              [[x["name"], x["data"], x["subjects"], x["records"]] for x in c["categories"]]),
        "<h2>Subprocessors</h2>",
        table(["Name", "Purpose", "Country", "Transfer mechanism"],
              [[s["name"], s["purpose"], s["country"], s["transfer_mechanism"] or "within the EEA"]
               for s in c["subprocessors"]]),
        "<h2>Transfers outside the EEA</h2>",
        table(["Recipient", "Country", "Mechanism"],
              [[s["name"], s["country"], s["transfer_mechanism"]] for s in c["transfers"]]),
        "<h2>Security measures in force</h2>",
        table(["Measure", "State"], [[m["measure"], m["state"]] for m in c["security_measures"]]),
        "<h2>Retention</h2>", table(["Data", "Rule"], [[r["data"], r["rule"]] for r in c["retention"]]),
        "<h2>" + e(w("The [[controller]]'s own processing activities")) + "</h2>",
        table(["Activity", "Purpose", "Legal basis", "Data", w("[[Data subjects]]"), "Recipients", "Retention"],
              [[a["name"], a["purpose"], a["legal_basis"], a["data_categories"], a["subject_categories"],
                a["recipients"], a["retention"]] for a in c["controller_activities"]]),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
