"""The retention sweep [TT-retention]: every active tenant's enabled rules, applied to what is due.

Rows go in batches, each committed with its audit events, so a sweep killed at any point has
either done a row completely (with its cascade: activities, search index rows, custom values) or
not at all, and the next sweep carries the tenant's open run on until nothing is due. Then the
run is closed with one audit event holding its counts (ids and numbers only).

Deleting goes through the CRM's own services, so a rule removes exactly what deleting the row by
hand would. Anonymising overwrites every personal field (a company's name and a deal's title,
which cannot be empty, become a placeholder), drops the row's blind-index digests, custom values
and the notes of its activities, and keeps what is not personal: dates, stage, value, currency,
country. A deal also loses its link to a contact.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, current_tenant, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, search
from tenantry.tenants.crm.custom_fields import CustomValue
from tenantry.tenants.crm.models import COMPANY as SEARCH_COMPANY
from tenantry.tenants.crm.models import CONTACT as SEARCH_CONTACT
from tenantry.tenants.crm.models import DEAL as SEARCH_DEAL
from tenantry.tenants.crm.models import Activity

from . import service
from .models import (
    ACTIVITY,
    ANONYMISE,
    COMPANY,
    CONTACT,
    DEAL,
    DELETE,
    ENTITIES,
    AnonymisedRow,
    RetentionRule,
    RetentionRun,
)

log = logging.getLogger(__name__)

BATCH = 200
COMPANY_PLACEHOLDER = "Anonymised company"
DEAL_PLACEHOLDER = "Anonymised deal"


def _order(rule: RetentionRule) -> tuple:
    # Deleting first spares anonymising what goes anyway; activities before their subjects.
    return (rule.action != DELETE, ENTITIES.index(rule.entity), rule.condition)


def _tenants_to_sweep() -> list[uuid.UUID]:
    with all_tenants():
        enabled = sa.select(RetentionRule.tenant_id).where(RetentionRule.enabled.is_(True))
        running = sa.select(RetentionRun.tenant_id).where(RetentionRun.status == "running")
        return list(db.session.execute(
            sa.select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE,
                                       sa.or_(Tenant.id.in_(enabled), Tenant.id.in_(running)))
            .order_by(Tenant.slug)).scalars())


def run(as_of: datetime, *, batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None) -> int:
    """Sweep step: apply every due rule of every active tenant; returns how many rows it changed.
    Cancelled workspaces are left as they are until their purge (their data is read-only and
    goes entirely on day 80)."""
    done = 0
    failed: Exception | None = None
    for tenant_id in _tenants_to_sweep():
        with all_tenants():
            tenant = db.session.get(Tenant, tenant_id)
        try:
            with tenant_context(tenant):
                done += run_tenant(as_of, batch_size=batch_size, on_batch=on_batch)
        except Exception as exc:
            # One tenant's failure does not hold up the others; its open run is carried on by
            # the next sweep, and the step still reports the error.
            db.session.rollback()
            log.exception("retention sweep of tenant %s failed", tenant_id)
            failed = failed or exc
    if failed is not None:
        raise failed
    return done


def _open_run() -> RetentionRun | None:
    return db.session.execute(sa.select(RetentionRun).where(RetentionRun.status == "running")
                              .order_by(RetentionRun.started_at, RetentionRun.id).limit(1)).scalar_one_or_none()


def _enabled_rules() -> list[RetentionRule]:
    found = db.session.execute(sa.select(RetentionRule).where(RetentionRule.enabled.is_(True))).scalars()
    return sorted(found, key=_order)


def run_tenant(as_of: datetime, *, batch_size: int = BATCH, on_batch: Callable[[int], None] | None = None) -> int:
    """Apply the current tenant's enabled rules as of `as_of`, carrying on a run left open."""
    tenant_id = current_tenant.id
    rules = _enabled_rules()
    current = _open_run()
    if current is None:
        if not any(db.session.execute(service.due_for(r, as_of).limit(1)).first() for r in rules):
            return 0  # nothing due: no run, no event (the sweep runs every few minutes)
        current = RetentionRun(id=uuid.uuid4(), tenant_id=tenant_id, status="running", as_of=as_of,
                               started_at=clock.now(), counts={})
        db.session.add(current)
        db.session.commit()
    elif clock.aware(current.as_of) < as_of:
        current.as_of = as_of
    run_id = current.id
    changed = 0
    batches = 0
    for rule in rules:
        rule_id, seen = rule.id, set()
        while True:
            ids = [i for i in db.session.execute(service.due_for(rule, as_of).limit(batch_size)).scalars()
                   if i not in seen]
            if not ids:
                break
            seen.update(ids)  # a row that somehow stays due is not taken again in this pass
            rule = db.session.get(RetentionRule, rule_id)
            n = _apply(rule, ids, as_of)
            current = db.session.get(RetentionRun, run_id)
            _count(current, rule, n)
            db.session.commit()
            changed += n
            batches += 1
            if on_batch is not None:
                on_batch(batches)
        rule = db.session.get(RetentionRule, rule_id)
    current = db.session.get(RetentionRun, run_id)
    _finish(current)
    db.session.commit()
    return changed


def _count(current: RetentionRun, rule: RetentionRule, n: int) -> None:
    counts = {k: dict(v) for k, v in (current.counts or {}).items()}
    entry = counts.setdefault(str(rule.id), {"entity": rule.entity, "condition": rule.condition,
                                             "months": rule.months, "action": rule.action, "count": 0})
    entry["count"] += n
    current.counts = counts
    if rule.action == DELETE:
        current.deleted += n
    else:
        current.anonymised += n


def _finish(current: RetentionRun) -> None:
    current.status = "done"
    current.finished_at = clock.now()
    audit.record("retention.run", actor_type="system", tenant_id=current.tenant_id, target_type="retention_run",
                 target_id=current.id,
                 details={"as_of": clock.aware(current.as_of).isoformat(timespec="seconds"),
                          "deleted": current.deleted, "anonymised": current.anonymised,
                          "rules": {rule_id: {"entity": c["entity"], "condition": c["condition"],
                                              "months": c["months"], "action": c["action"], "count": c["count"]}
                                    for rule_id, c in sorted((current.counts or {}).items())}})


# --- one batch ------------------------------------------------------------------------------------


def _apply(rule: RetentionRule, ids: list[uuid.UUID], as_of: datetime) -> int:
    model = service.MODELS[rule.entity]
    rows = db.session.execute(sa.select(model).where(model.id.in_(ids))).scalars().all()
    place = {row_id: n for n, row_id in enumerate(ids)}  # the order the batch was chosen in
    for row in sorted(rows, key=lambda r: place[r.id]):
        if rule.action == DELETE:
            _delete(rule.entity, row)
        elif rule.action == ANONYMISE:
            _anonymise(rule, row)
    db.session.flush()
    return len(rows)


def _forget_marks(entity: str, row_ids: list[uuid.UUID]) -> None:
    db.session.execute(sa.delete(AnonymisedRow).where(AnonymisedRow.tenant_id == current_tenant.id,
                                                      AnonymisedRow.entity == entity,
                                                      AnonymisedRow.row_id.in_(row_ids)))


def _delete(entity: str, row) -> None:
    """Through the CRM's services: the same cascade as a person deleting the row."""
    row_id = row.id
    if entity == CONTACT:
        contacts.delete(row)  # its activities, its search digests, its custom values (FK cascade); deals stay
    elif entity == COMPANY:
        companies.delete(row)  # its activities and digests; contacts and deals stay without it
    elif entity == DEAL:
        deals.delete(row)  # its activities
    else:
        activities.delete(row)
    _forget_marks(entity, [row_id])


def _clear_notes(column, subject_id: uuid.UUID) -> None:
    db.session.execute(sa.update(Activity).where(Activity.tenant_id == current_tenant.id, column == subject_id)
                       .values(note=None, version=Activity.version + 1))


def _mark(rule: RetentionRule, entity: str, row) -> None:
    # Anonymising leaves updated_at as it was, so that a later delete rule still counts from the
    # row's last real activity; the mark remembers it to tell a later edit.
    now, updated = clock.now(), clock.aware(row.updated_at)
    mark = db.session.get(AnonymisedRow, (current_tenant.id, entity, row.id))
    if mark is None:
        db.session.add(AnonymisedRow(tenant_id=current_tenant.id, entity=entity, row_id=row.id, anonymised_at=now,
                                     row_updated_at=updated, rule_id=rule.id))
    else:
        mark.anonymised_at, mark.row_updated_at, mark.rule_id = now, updated, rule.id


def _anonymise(rule: RetentionRule, row) -> None:
    entity = rule.entity
    if entity == CONTACT:
        for column in row.ENCRYPTED:
            row.seal(column, None)
        search.drop(SEARCH_CONTACT, row.id)
        db.session.execute(sa.delete(CustomValue).where(CustomValue.tenant_id == current_tenant.id,
                                                        CustomValue.contact_id == row.id))
        _clear_notes(Activity.contact_id, row.id)
    elif entity == COMPANY:
        for column in row.ENCRYPTED:
            row.seal(column, COMPANY_PLACEHOLDER if column == "name" else None)
        search.drop(SEARCH_COMPANY, row.id)
        _clear_notes(Activity.company_id, row.id)
    elif entity == DEAL:
        row.seal("title", DEAL_PLACEHOLDER)
        search.drop(SEARCH_DEAL, row.id)
        row.contact_id = None  # the link to a person is personal data too
        _clear_notes(Activity.deal_id, row.id)
    elif entity == ACTIVITY:
        row.seal("note", None)
    if entity != ACTIVITY:
        _mark(rule, entity, row)
    audit.record(f"crm.{entity}.anonymised", actor_type="system", tenant_id=current_tenant.id, target_type=entity,
                 target_id=row.id, details={"retention_rule": str(rule.id)})
