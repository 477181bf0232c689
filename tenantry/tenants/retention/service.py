"""Retention rules: keep, change and remove them, and find the CRM rows that are due under one.

`due(rule, as_of)` is the one query that decides what goes: the preview counts and lists it,
and the sweep (retention.sweep) removes exactly it, batch by batch. A row is due when N months
have passed since the last thing that happened to it (`cutoff(as_of, N)`, calendar months): on
the boundary day itself it is due from the same time of day on, never earlier.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.business_days import add_months
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import contacts
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal, PipelineStage

from .models import (
    ACTIONS,
    ACTIVITY,
    ANONYMISE,
    COMPANY,
    CONDITIONS,
    CONTACT,
    DEAL,
    ENTITIES,
    MAX_MONTHS,
    MIN_MONTHS,
    AnonymisedRow,
    RetentionRule,
    RetentionRun,
)

MODELS = {CONTACT: Contact, COMPANY: Company, DEAL: Deal, ACTIVITY: Activity}
PREVIEW_LIMIT = 25
HISTORY_LIMIT = 50


class RuleError(ValueError):
    """A rule the service refuses; `field` names the form field the message belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RuleData:
    condition: str
    months: int
    action: str
    enabled: bool = False

    @property
    def entity(self) -> str:
        return CONDITIONS[self.condition][0]

    @property
    def signature(self) -> str:
        """What a preview was shown for: saving an enabled rule needs a preview of these settings."""
        return f"{self.condition}:{self.months}:{self.action}"


# --- time -----------------------------------------------------------------------------------


def cutoff(as_of: datetime, months: int) -> datetime:
    """`as_of` moved back `months` calendar months, the day clamped to the month's end (31 March
    less one month is 28 or 29 February)."""
    return add_months(as_of, -months)


# --- what is due ------------------------------------------------------------------------------


def _recent_activity(column, subject_id, limit: datetime):
    return sa.exists().where(Activity.tenant_id == current_tenant.id, column == subject_id,
                             sa.or_(Activity.created_at > limit, Activity.done_at > limit))


def _recent_deal(column, subject_id, limit: datetime):
    return sa.exists().where(Deal.tenant_id == current_tenant.id, column == subject_id,
                             sa.or_(Deal.created_at > limit, Deal.updated_at > limit))


def _not_anonymised(entity: str, model):
    """Rows a rule has anonymised and nobody has changed since are left alone."""
    return ~sa.exists().where(AnonymisedRow.tenant_id == current_tenant.id, AnonymisedRow.entity == entity,
                              AnonymisedRow.row_id == model.id, AnonymisedRow.row_updated_at >= model.updated_at)


def due(condition: str, months: int, action: str, as_of: datetime) -> sa.Select:
    """A select of the ids of the current tenant's rows due under the rule, oldest first."""
    limit = cutoff(as_of, months)
    tid = current_tenant.id
    entity = CONDITIONS[condition][0]
    model = MODELS[entity]
    where = [model.tenant_id == tid, model.created_at <= limit]
    restricted = getattr(Contact, "restricted_at", None)
    if restricted is not None:
        # A contact restricted by a data subject request [DSR-restrict] is kept, with its deals and
        # activities, whatever the rules say, until the restriction is lifted.
        held = sa.select(Contact.id).where(Contact.tenant_id == tid, restricted.is_not(None))
        if entity == CONTACT:
            where.append(Contact.id.not_in(held))
        elif entity in (DEAL, ACTIVITY):
            where.append(sa.or_(model.contact_id.is_(None), model.contact_id.not_in(held)))
    if condition == "contact_inactive":
        where += [Contact.updated_at <= limit,
                  ~_recent_activity(Activity.contact_id, Contact.id, limit),
                  ~_recent_deal(Deal.contact_id, Contact.id, limit)]
    elif condition == "company_inactive":
        where += [Company.updated_at <= limit,
                  ~sa.exists().where(Contact.tenant_id == tid, Contact.company_id == Company.id),
                  ~_recent_activity(Activity.company_id, Company.id, limit),
                  ~_recent_deal(Deal.company_id, Company.id, limit)]
    elif condition == "deal_closed":
        closed = sa.select(PipelineStage.id).where(PipelineStage.tenant_id == tid,
                                                   sa.or_(PipelineStage.is_won, PipelineStage.is_lost))
        where += [Deal.stage_id.in_(closed), Deal.updated_at <= limit,
                  ~_recent_activity(Activity.deal_id, Deal.id, limit)]
    elif condition == "deal_created":
        pass
    elif condition == "activity_created":
        where += [sa.or_(Activity.due_on.is_(None), Activity.due_on <= limit.date()),
                  sa.or_(Activity.done_at.is_(None), Activity.done_at <= limit)]
    else:  # pragma: no cover - the form and the check constraint allow no other
        raise ValueError(condition)
    if action == ANONYMISE:
        # An activity's only personal field is its note: without one there is nothing to remove.
        where.append(Activity.note.is_not(None) if entity == ACTIVITY else _not_anonymised(entity, model))
    return sa.select(model.id).where(*where).order_by(model.created_at, model.id)


def due_for(rule: RetentionRule, as_of: datetime) -> sa.Select:
    return due(rule.condition, rule.months, rule.action, as_of)


def count_due(condition: str, months: int, action: str, as_of: datetime) -> int:
    stmt = due(condition, months, action, as_of).order_by(None)
    return db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()


@dataclass
class PreviewItem:
    id: uuid.UUID
    created_at: datetime
    label: str


@dataclass
class Preview:
    entity: str
    action: str
    as_of: datetime
    cutoff: datetime
    count: int
    items: list[PreviewItem]


def _label(entity: str, row) -> str:
    if entity == CONTACT:
        return contacts.display_name({"first_name": row.reveal("first_name"), "last_name": row.reveal("last_name")})
    if entity == COMPANY:
        return row.reveal("name") or "(no name)"
    if entity == DEAL:
        return f"{row.reveal('title') or '(no title)'} ({row.value:,.2f} {row.currency})"
    subject = next(s for s in ("contact", "company", "deal") if getattr(row, f"{s}_id") is not None)
    due_on = f", due {row.due_on:%Y-%m-%d}" if row.due_on else ""
    return f"{row.kind.title()} on a {subject}{due_on}"


def preview(data: RuleData, *, as_of: datetime | None = None, limit: int = PREVIEW_LIMIT, actor=None) -> Preview:
    """What the rule would delete or anonymise if the sweep ran at `as_of` (now): the count and
    the first `limit` rows in the order the sweep takes them. The names shown are a read of
    personal data by `actor`, recorded as such."""
    as_of = as_of or clock.now()
    stmt = due(data.condition, data.months, data.action, as_of)
    ids = list(db.session.execute(stmt.limit(limit)).scalars())
    model = MODELS[data.entity]
    rows = {r.id: r for r in db.session.execute(sa.select(model).where(model.id.in_(ids))).scalars()} if ids else {}
    items = [PreviewItem(i, clock.aware(rows[i].created_at), _label(data.entity, rows[i])) for i in ids if i in rows]
    if items and actor is not None:
        audit.record_read("retention.previewed", target_type=data.entity, target_ids=[i.id for i in items],
                          actor=actor, tenant_id=current_tenant.id, details={"condition": data.condition})
    return Preview(data.entity, data.action, as_of, cutoff(as_of, data.months),
                   count_due(data.condition, data.months, data.action, as_of), items)


# --- the rules ------------------------------------------------------------------------------------


def rules() -> list[RetentionRule]:
    found = db.session.execute(sa.select(RetentionRule).order_by(RetentionRule.created_at, RetentionRule.id))
    return sorted(found.scalars(), key=lambda r: (ENTITIES.index(r.entity), r.condition, r.action != "anonymise"))


def get(rule_id: uuid.UUID) -> RetentionRule | None:
    # The ORM scopes the lookup to the current tenant: another tenant's rule is not found.
    return db.session.get(RetentionRule, rule_id)


def _check(data: RuleData, existing: RetentionRule | None) -> None:
    if data.condition not in CONDITIONS:
        raise RuleError("condition", "Choose one of the listed rules.")
    if data.action not in ACTIONS:
        raise RuleError("action", "Choose delete or anonymise.")
    if not MIN_MONTHS <= data.months <= MAX_MONTHS:
        raise RuleError("months", f"Enter a whole number of months from {MIN_MONTHS} to {MAX_MONTHS}.")
    clash = sa.select(RetentionRule.id).where(RetentionRule.condition == data.condition,
                                              RetentionRule.action == data.action)
    if existing is not None:
        clash = clash.where(RetentionRule.id != existing.id)
    if db.session.execute(clash).first() is not None:
        raise RuleError("condition", "This workspace already has this rule with this action; change that one instead.")


def _settings(rule: RetentionRule) -> dict:
    return {"entity": rule.entity, "condition": rule.condition, "months": rule.months, "action": rule.action,
            "enabled": rule.enabled}


def _save(rule: RetentionRule) -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent save of the same rule won
        raise RuleError("condition", "This workspace already has this rule with this action; "
                                     "change that one instead.") from exc


def create(data: RuleData, *, actor=None) -> RetentionRule:
    _check(data, None)
    rule = RetentionRule(id=uuid.uuid4(), tenant_id=current_tenant.id, entity=data.entity, condition=data.condition,
                         months=data.months, action=data.action, enabled=data.enabled,
                         created_by_user_id=getattr(actor, "id", None))
    db.session.add(rule)
    _save(rule)
    audit.record("retention.rule.created", actor=actor, tenant_id=rule.tenant_id, target_type="retention_rule",
                 target_id=rule.id, details=_settings(rule))
    return rule


def update(rule: RetentionRule, data: RuleData, *, actor=None) -> RetentionRule:
    _check(data, rule)
    before = _settings(rule)
    rule.entity, rule.condition, rule.months = data.entity, data.condition, data.months
    rule.action, rule.enabled = data.action, data.enabled
    after = _settings(rule)
    if before != after:
        rule.updated_at = clock.now()
        _save(rule)
        audit.record("retention.rule.updated", actor=actor, tenant_id=rule.tenant_id, target_type="retention_rule",
                     target_id=rule.id, details={"from": before, "to": after})
    return rule


def delete(rule: RetentionRule, *, actor=None) -> None:
    settings = _settings(rule)
    db.session.delete(rule)
    db.session.flush()
    audit.record("retention.rule.deleted", actor=actor, tenant_id=current_tenant.id, target_type="retention_rule",
                 target_id=rule.id, details=settings)


def runs(limit: int = HISTORY_LIMIT) -> list[RetentionRun]:
    return list(db.session.execute(
        sa.select(RetentionRun).order_by(RetentionRun.started_at.desc(), RetentionRun.id).limit(limit)).scalars())
