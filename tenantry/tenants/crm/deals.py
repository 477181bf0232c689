"""Deals: create, change, delete and list, with the title stored encrypted."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa

from tenantry.platform import audit, clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import by_id, db
from tenantry.platform.identity.models import Membership
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants import local_time

from . import assignments, lost_reasons, name_order, overdue, search, versions
from .models import COMPANY, DEAL, Activity, Deal, PipelineStage

PAGE_SIZE = 25
SORTS = ("-value", "value", "close", "-close", "newest")
LATE = "late"  # the lists' choice of the open deals past their expected close date
WON_THIS_MONTH = "won-this-month"  # and of the deals won in the workspace's current month
CLOSE_CHOICES = {LATE: "Passed, still open", WON_THIS_MONTH: "Won this month"}
# ... and the deals won or lost in a month of the workspace's, or still open and expected to
# close in it: "won-2027-02", "lost-2027-02", "expected-2027-02" (the sales report's links); a
# month before 2000 or after 2999 is no choice.
CLOSED_IN = re.compile(r"(won|lost|expected)-([23]\d{3})-(0[1-9]|1[0-2])")
_MONTH_LABELS = {"won": "Won in", "lost": "Lost in", "expected": "Open, expected to close in"}
# ... and the deals won or lost from the start of a month on: "lost-since-2026-01" (the report's
# months together).
CLOSED_SINCE = re.compile(r"(won|lost)-since-([23]\d{3})-(0[1-9]|1[0-2])")
NO_REASON = "none"  # the lists' choice of the lost deals given no reason (else a reason's id)
IDLE = "none"  # the lists' choice of the open deals with no open activity: no next step


class Refused(ValueError):
    """A reference the service refuses; `field` names the form field it belongs to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class DealData:
    title: str
    value: Decimal
    currency: str
    stage_id: uuid.UUID
    expected_close: date | None = None
    contact_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    lost_reason_id: uuid.UUID | None = None  # kept only while the stage is a lost one
    probability: int | None = None  # the deal's own win probability (per cent); None: its stage's


def get(deal_id: uuid.UUID) -> Deal | None:
    return by_id(Deal, deal_id)


def members(rows: list[Membership] | None = None) -> list[tuple[str, str]]:
    """(user id, label) of the tenant's members, deactivated ones too (they may still own deals
    and activities, and be filtered by): for the lists' filters and the names shown. `rows`:
    memberships() when the caller has them already (a page wanting assignable() too)."""
    return _labelled(memberships() if rows is None else rows)


def memberships() -> list[Membership]:
    """Every membership of the workspace, deactivated ones too, by name (the API's members)."""
    rows = db.session.execute(sa.select(Membership)).scalars().all()
    return sorted(rows, key=lambda m: ((m.user.name or m.user.email).lower(), str(m.user_id)))


def assignable(keeping: uuid.UUID | None = None, rows: list[Membership] | None = None) -> list[tuple[str, str]]:
    """(user id, label) of the members who may be given a deal or an activity: those whose
    membership is active, and `keeping`, the one a record has already (deactivated since)."""
    return _labelled([m for m in (memberships() if rows is None else rows)
                      if m.deactivated_at is None or m.user_id == keeping])


def _labelled(rows) -> list[tuple[str, str]]:
    # Two members of one name ("Jan Novák" twice) are told apart by their e-mail.
    names = Counter((m.user.name or m.user.email).casefold() for m in rows)

    def label(m: Membership) -> str:
        name = m.user.name or m.user.email
        shown = f"{name} ({m.user.email})" if m.user.name and names[name.casefold()] > 1 else name
        return shown + (" (deactivated)" if m.deactivated_at else "")

    return [(str(m.user_id), label(m)) for m in rows]


def is_member(user_id: uuid.UUID, *, keeping: uuid.UUID | None = None) -> bool:
    """Whether the user may own a deal or an activity of the current workspace: an active
    member, or `keeping`, the owner the record has already (whose membership may have been
    deactivated since: an edit of anything else keeps them)."""
    if keeping is not None and user_id == keeping:
        return True
    return db.session.execute(sa.select(Membership.id).where(
        Membership.user_id == user_id, Membership.deactivated_at.is_(None))).scalar() is not None


def _check(data: DealData, keeping: uuid.UUID | None = None, contact_kept: uuid.UUID | None = None) -> None:
    from . import companies, contacts

    # The ORM scopes these lookups to the current tenant: another tenant's id is not found.
    if db.session.get(PipelineStage, data.stage_id) is None:
        raise Refused("stage", "Choose one of this workspace's pipeline stages.")
    if data.contact_id is not None:
        contact = contacts.get(data.contact_id)
        if contact is None:
            raise Refused("contact", "Choose one of this workspace's contacts.")
        if contact.restricted_at is not None and data.contact_id != contact_kept:
            # A new link is a use the restriction forbids [DSR-restrict]; a deal keeps the one it had.
            raise Refused("contact", "This contact's processing is restricted by a data subject request: "
                                     "a deal cannot be linked to it.")
    if data.company_id is not None and companies.get(data.company_id) is None:
        raise Refused("company", "Choose one of this workspace's companies.")
    if data.owner_id is not None and not is_member(data.owner_id, keeping=keeping):
        raise Refused("owner", "The owner must be an active member of this workspace.")
    if data.lost_reason_id is not None and lost_reasons.get(data.lost_reason_id) is None:
        raise Refused("lost_reason", "Choose one of this workspace's reasons for losing a deal.")


def _is_lost(stage_id: uuid.UUID) -> bool:
    stage = db.session.get(PipelineStage, stage_id)  # from the identity map when _check or the caller loaded it
    return stage is not None and stage.is_lost


def set_lost_reason(deal: Deal, reason_id: uuid.UUID | None, *, actor=None) -> bool:
    """Say why a lost deal was lost (None: not given); False when it said so already."""
    if not _is_lost(deal.stage_id):
        raise Refused("lost_reason", "Only a lost deal has a reason for it: move it to a lost stage first.")
    if reason_id is not None and lost_reasons.get(reason_id) is None:
        raise Refused("lost_reason", "Choose one of this workspace's reasons for losing a deal.")
    return set_column(deal, "lost_reason_id", reason_id, actor=actor, via="deal page")


def _write(deal: Deal, data: DealData, *, new: bool = False) -> None:
    _check(data, keeping=deal.owner_id, contact_kept=deal.contact_id)
    lost = _is_lost(data.stage_id)  # before the first change: a query then would flush it on its own
    deal.seal("title", data.title)
    now = clock.now()
    if new:
        deal.created_at = now
    if new or deal.stage_id != data.stage_id:
        deal.stage_changed_at = now
    deal.value, deal.currency, deal.stage_id = data.value, data.currency, data.stage_id
    deal.expected_close, deal.contact_id, deal.company_id = data.expected_close, data.contact_id, data.company_id
    deal.owner_id = data.owner_id
    deal.lost_reason_id = data.lost_reason_id if lost else None
    deal.probability = data.probability
    deal.updated_at = now
    # An existing deal's UPDATE is autoflushed by replace()'s DELETE: its row lock comes before
    # its digests', the order index_builds.rebuild takes them in.
    search.replace(DEAL, deal.id, index_pairs(data.title, fields.TenantCipher(deal.tenant_id)), new=new)


def win_probability(deal: Deal, stage: PipelineStage) -> int:
    """The per cent of the deal's value its forecast counts: an open deal's own where it has
    one, else its stage's; a won deal's 100 and a lost one's 0 (their stages', whatever the
    deal's own: the outcome is certain)."""
    if stage.is_won or stage.is_lost or deal.probability is None:
        return stage.probability
    return deal.probability


def win_probability_sql() -> sa.ColumnElement[int]:
    """win_probability in SQL, over deals joined to their stages."""
    return sa.case((sa.or_(PipelineStage.is_won, PipelineStage.is_lost), PipelineStage.probability),
                   else_=sa.func.coalesce(Deal.probability, PipelineStage.probability))


def index_pairs(title: str | None, cipher: fields.TenantCipher) -> set[tuple[str, str]]:
    """The blind-index digests of a deal's title: each of its words, as a name's."""
    return search.digests(names=[title], cipher=cipher)


def create(data: DealData, *, actor=None) -> Deal:
    deal = Deal(id=uuid.uuid4(), tenant_id=current_tenant.id)
    _write(deal, data, new=True)
    db.session.add(deal)
    db.session.flush()
    audit.record("crm.deal.created", actor=actor, tenant_id=deal.tenant_id, target_type="deal", target_id=deal.id,
                 changes=audit.diff(None, deal.snapshot()))
    assignments.note(deal, None, actor=actor)
    return deal


def update(deal: Deal, data: DealData, *, actor=None, version: int | None = None) -> Deal:
    with versions.checked(deal, version):
        before = deal.snapshot()
        _write(deal, data)
        db.session.flush()
    audit.record("crm.deal.updated", actor=actor, tenant_id=deal.tenant_id, target_type="deal", target_id=deal.id,
                 changes=audit.diff(before, deal.snapshot()))
    assignments.note(deal, before["owner_id"], actor=actor)
    return deal


def lock(deal: Deal) -> None:
    """Take the deal's row lock before its digests', the order index_builds.rebuild uses."""
    db.session.execute(sa.select(Deal.id).where(Deal.id == deal.id).with_for_update())


def choices() -> list[tuple[str, str]]:
    """(id, title) of every deal, by title, for a select (pickers: while the tenant has few).
    Decrypts every deal title of the tenant on each call."""
    titled = [(str(deal_id), title or "") for deal_id, (title,) in
              name_order.names(Deal, sa.select(Deal.id), ("title",))]
    return sorted(titled, key=lambda pair: (fields.fold(pair[1]), pair[0]))


def set_column(deal: Deal, column: str, value, *, actor=None, via: str) -> bool:
    """One of the deal's columns in the clear (stage_id, owner_id, lost_reason_id; checked by the
    caller) set to `value`, audited as a change of the deal made `via` the board, a list's bulk
    change or the deal page. Leaving a lost stage also clears the reason it was lost for. False
    when it held `value` already (nothing written)."""
    before = getattr(deal, column)
    if before == value:
        return False
    old, new = {column: before}, {column: value}
    leaves_loss = column == "stage_id" and deal.lost_reason_id is not None and not _is_lost(value)  # before a change
    setattr(deal, column, value)
    deal.updated_at = clock.now()
    if column == "stage_id":
        deal.stage_changed_at = deal.updated_at
        if leaves_loss:
            # Out of a lost stage, the reason it was lost for no longer holds.
            old["lost_reason_id"], new["lost_reason_id"], deal.lost_reason_id = deal.lost_reason_id, None, None
    db.session.flush()
    audit.record("crm.deal.updated", actor=actor, tenant_id=deal.tenant_id, target_type="deal", target_id=deal.id,
                 changes=audit.diff(old, new), details={"via": via})
    if column == "owner_id":
        assignments.note(deal, before, actor=actor)
    return True


def delete(deal: Deal, *, actor=None, version: int | None = None) -> None:
    with versions.checked(deal, version):
        before = deal.snapshot()
        db.session.execute(sa.delete(Activity).where(Activity.tenant_id == deal.tenant_id, Activity.deal_id == deal.id))
        search.drop(DEAL, deal.id)
        db.session.delete(deal)
        db.session.flush()
    audit.record("crm.deal.deleted", actor=actor, tenant_id=deal.tenant_id, target_type="deal", target_id=deal.id,
                 changes=audit.diff(before, None))


def detach(*, contact_id: uuid.UUID | None = None, company_id: uuid.UUID | None = None) -> None:
    """Before a contact or company goes, its deals stay without it. Only the one column is
    nulled: the composite FK shares tenant_id, which must stay."""
    tid = current_tenant.id
    if contact_id is not None:
        db.session.execute(sa.update(Deal).where(Deal.tenant_id == tid, Deal.contact_id == contact_id)
                           .values(contact_id=None, updated_at=clock.now(), version=Deal.version + 1))
    if company_id is not None:
        db.session.execute(sa.update(Deal).where(Deal.tenant_id == tid, Deal.company_id == company_id)
                           .values(company_id=None, updated_at=clock.now(), version=Deal.version + 1))


def of(*, contact_id: uuid.UUID | None = None, company_id: uuid.UUID | None = None) -> list[tuple[Deal, str]]:
    stmt = sa.select(Deal).order_by(Deal.created_at.desc(), Deal.id)
    stmt = stmt.where(Deal.contact_id == contact_id) if contact_id else stmt.where(Deal.company_id == company_id)
    return [(d, d.reveal("title")) for d in db.session.execute(stmt).scalars()]


def count(tenant_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Deal).where(Deal.tenant_id == tenant_id)).scalar_one()


@dataclass
class Page:
    items: list[tuple[Deal, str]]  # deal, its title
    total: int
    page: int
    pages: int


def matching(query: str):
    """The condition for the deals `query` finds: every word of it in the title, or their
    contact or company found by it (as the contact and company searches find them; never
    through a restricted contact [DSR-restrict])."""
    from . import contacts, index_builds

    by_link = sa.or_(Deal.contact_id.in_(contacts.found(query)), Deal.company_id.in_(search.matching(COMPANY, query)))
    if index_builds.is_current(current_tenant.id, index_builds.DEAL_TITLES):
        return sa.or_(Deal.id.in_(search.matching(DEAL, query)), by_link)
    # Deals saved before titles were indexed have no digests until the sweep has rebuilt the
    # tenant's index: until then the titles are decrypted, slower but never incomplete.
    words = set(fields.name_tokens(query)[:search.MAX_QUERY_WORDS])
    if not words:
        return by_link
    titled = [row_id for row_id, (title,) in name_order.names(Deal, sa.select(Deal.id), ("title",))
              if words <= set(fields.name_tokens(title or "", joined=True))]
    return sa.or_(Deal.id.in_(titled), by_link)


def open_condition():
    """SQL: the deal is in a stage neither won nor lost."""
    closed = sa.select(PipelineStage.id).where(sa.or_(PipelineStage.is_won, PipelineStage.is_lost))
    return Deal.stage_id.not_in(closed)


def late(today: date) -> list:
    """The conditions of an open deal (in a stage neither won nor lost) whose expected close
    date is before `today`: one that was to close and has not."""
    return [Deal.expected_close < today, open_condition()]


def won_since(start) -> list:
    """The conditions of a deal won from `start` on: in a won stage, entered since."""
    return closed_between(True, start)


def closed_between(won: bool, start: datetime, end: datetime | None = None) -> list:
    """The conditions of a deal won (else lost) from `start` on, and before `end` if given:
    in such a stage, entered in that time."""
    outcome = sa.select(PipelineStage.id).where(PipelineStage.is_won if won else PipelineStage.is_lost)
    return [Deal.stage_id.in_(outcome), Deal.stage_changed_at >= start,
            *([Deal.stage_changed_at < end] if end is not None else [])]


def close_label(close: str) -> str | None:
    """What a lists' `close` choice is called ("Won in February 2027"); None when it is none."""
    if close in CLOSE_CHOICES:
        return CLOSE_CHOICES[close]
    found = CLOSED_IN.fullmatch(close)
    if found is not None:
        return f"{_MONTH_LABELS[found[1]]} {date(int(found[2]), int(found[3]), 1):%B %Y}"
    found = CLOSED_SINCE.fullmatch(close)
    return f"{found[1].capitalize()} since {date(int(found[2]), int(found[3]), 1):%B %Y}" if found else None


def close_conditions(close: str) -> list | None:
    """The conditions of a lists' `close` choice on the workspace's clock: LATE, WON_THIS_MONTH,
    a CLOSED_IN month (won, lost, or open and expected to close) or CLOSED_SINCE the start of
    a month; [] for none chosen, None for one that is not a choice."""
    if not close:
        return []
    if close == LATE:
        return late(local_time.today())
    if close == WON_THIS_MONTH:
        return won_since(local_time.start_of_month())
    since = CLOSED_SINCE.fullmatch(close)
    if since is not None:
        start = datetime.combine(date(int(since[2]), int(since[3]), 1), time(0), local_time.zone_of())
        return closed_between(since[1] == "won", start)
    found = CLOSED_IN.fullmatch(close)
    if found is None:
        return None
    first = date(int(found[2]), int(found[3]), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    if found[1] == "expected":
        return [open_condition(), Deal.expected_close >= first, Deal.expected_close < after]
    zone = local_time.zone_of()
    return closed_between(found[1] == "won", datetime.combine(first, time(0), zone),
                          datetime.combine(after, time(0), zone))


def reason_conditions(reason: str) -> list | None:
    """The conditions of a lists' `reason` choice: the deals lost for the reason of that id, or
    lost with none given (NO_REASON); [] for none chosen, None for one that is not a choice. A
    deal keeps its reason only while it is in a lost stage, so the reason alone says lost."""
    if not reason:
        return []
    if reason == NO_REASON:
        lost = sa.select(PipelineStage.id).where(PipelineStage.is_lost)
        return [Deal.stage_id.in_(lost), Deal.lost_reason_id.is_(None)]
    try:
        return [Deal.lost_reason_id == uuid.UUID(reason)]
    except ValueError:
        return None


def idle() -> list:
    """The conditions of an open deal with no open activity: nothing is planned to move it on."""
    planned = sa.exists().where(Activity.tenant_id == Deal.tenant_id, Activity.deal_id == Deal.id,
                                Activity.done.is_(False))
    return [open_condition(), ~planned]


class NextStep(NamedTuple):
    due_on: date | None  # the earliest due date of the deal's open activities; None: none has one
    overdue: bool  # one of them is overdue (overdue.py)


def next_steps(deal_ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, NextStep]:
    """For each of these deals that has open activities, its NextStep at `now` (on the
    workspace's clock). A deal left out has no open activity."""
    if not deal_ids:
        return {}
    late = sa.func.max(sa.case((overdue.condition(now), 1), else_=0))
    return {deal_id: NextStep(due_on, bool(late_ones)) for deal_id, due_on, late_ones in db.session.execute(
        sa.select(Activity.deal_id, sa.func.min(Activity.due_on), late)
        .where(Activity.tenant_id == current_tenant.id, Activity.deal_id.in_(deal_ids), Activity.done.is_(False))
        .group_by(Activity.deal_id))}


def listing(*, q: str = "", stage_id: uuid.UUID | None = None, owner_id: uuid.UUID | None = None,
            unowned: bool = False, close: str = "", next_step: str = "", reason: str = "", sort: str = "-value",
            page: int = 1, page_size: int | None = None) -> Page:
    """One page of deals; filters and sorts run in SQL (value and dates are not encrypted), so
    only the page shown is decrypted. By value: by currency, then value within each.
    `unowned`: only the deals of no one. `close`, `reason`: a choice of close_conditions,
    reason_conditions (one that is none is ignored); `next_step` IDLE: only the open deals with
    no open activity (idle)."""
    page_size = page_size or PAGE_SIZE
    stmt = sa.select(Deal).where(Deal.tenant_id == current_tenant.id, *(close_conditions(close) or []),
                                 *(reason_conditions(reason) or []))
    if next_step == IDLE:
        stmt = stmt.where(*idle())
    if q.strip():
        stmt = stmt.where(matching(q))
    if stage_id is not None:
        stmt = stmt.where(Deal.stage_id == stage_id)
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    elif unowned:
        stmt = stmt.where(Deal.owner_id.is_(None))
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    order = {
        # Amounts in different currencies do not compare: each currency's deals together (by
        # code), by value within it.
        "value": [Deal.currency.asc(), Deal.value.asc()], "-value": [Deal.currency.asc(), Deal.value.desc()],
        # Deals without a date come last either way.
        "close": [Deal.expected_close.is_(None), Deal.expected_close.asc()],
        "-close": [Deal.expected_close.is_(None), Deal.expected_close.desc()],
        "newest": [Deal.created_at.desc()],
    }[sort if sort in SORTS else "-value"]
    chosen = db.session.execute(stmt.order_by(*order, Deal.id).limit(page_size)
                                .offset((page - 1) * page_size)).scalars().all()
    return Page([(d, d.reveal("title")) for d in chosen], total, page, pages)
