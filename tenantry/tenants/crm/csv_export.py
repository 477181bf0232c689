"""CSV exports of the CRM lists, as listed: the same search, filters and sort as the page,
every matching row rather than one page. Cells go through csv_cells (formula cells defused),
and each export is one read event naming the ids it handed out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import db
from tenantry.tenants import local_time

from . import (
    activities,
    activity_list,
    companies,
    contacts,
    custom_fields,
    deals,
    forms,
    lost_reasons,
    name_order,
    stages,
)
from .csv_import import COMPANY_HEADERS, CONTACT_HEADERS
from .models import Activity, Company, Contact, Deal

ALL = 10**9  # "one page with everything" for the listings


def _names(model, ids: Iterable[uuid.UUID], show) -> dict[uuid.UUID, str]:
    return {row.id: show(row) for row in name_order.rows_of(model, list({i for i in ids if i}))}


def _company_name(company: Company) -> str:
    return company.reveal("name")


def _contact_name(contact: Contact) -> str:
    if contact.restricted_at is not None:  # [DSR-restrict] not exported, not even by name
        return ""
    return contacts.display_name({"first_name": contact.reveal("first_name"),
                                  "last_name": contact.reveal("last_name")})


def contact_rows(*, q: str, company_id, sort: str, tag: str = "", custom=None):
    # bulk: restricted contacts and those who objected [DSR-restrict, DSR-object] are left out.
    page = contacts.listing(q=q, company_id=company_id, tag=tag, sort=sort, page=1, page_size=ALL, bulk=True,
                            custom=custom)
    definitions = custom_fields.usable()  # a special category only under an agreement [DPA-A.special]
    values = custom_fields.values_of_many([c.id for c, _ in page.items])
    names = _names(Company, [c.company_id for c, _ in page.items], _company_name)
    header = [*CONTACT_HEADERS, *(d.label for d in definitions)]
    rows = []
    for contact, p in page.items:
        custom = values.get(contact.id, {})
        rows.append([p["first_name"], p["last_name"], ", ".join(p["emails"]), ", ".join(p["phones"]), p["address"],
                     names.get(contact.company_id, ""), p["position"], p["notes"], ", ".join(p["tags"]),
                     *(custom.get(d.id, "") for d in definitions)])
    return header, rows, [c.id for c, _ in page.items]


def company_rows(*, q: str, has_contacts: str, sort: str):
    page = companies.listing(q=q, has_contacts=has_contacts, sort=sort, page=1, page_size=ALL)
    rows = [[p["name"], company.country, p["company_number"], p["vat_id"], p["address"], p["iban"], p["website"],
             p["notes"]] for company, p, _count in page.items]
    return COMPANY_HEADERS, rows, [c.id for c, _p, _n in page.items]


def deal_rows(*, q: str = "", stage_id, owner_id, unowned: bool = False, close: str = "", next_step: str = "",
              reason: str = "", sort: str):
    page = deals.listing(q=q, stage_id=stage_id, owner_id=owner_id, unowned=unowned, close=close,
                         next_step=next_step, reason=reason, sort=sort, page=1, page_size=ALL)
    pipeline = {s.id: s for s in stages.ensure_defaults()}
    owners = dict(deals.members())
    people = _names(Contact, [d.contact_id for d, _ in page.items], _contact_name)
    firms = _names(Company, [d.company_id for d, _ in page.items], _company_name)
    reasons = {r.id: r.name for r in lost_reasons.ordered()}
    header = ["Title", "Value", "Currency", "Stage", "Win probability (%)", "Expected close date", "Contact",
              "Company", "Owner", "Lost reason"]
    rows = [[title, f"{deal.value.normalize():f}", deal.currency, pipeline[deal.stage_id].name,
             deals.win_probability(deal, pipeline[deal.stage_id]),
             deal.expected_close, people.get(deal.contact_id, ""), firms.get(deal.company_id, ""),
             owners.get(str(deal.owner_id), "") if deal.owner_id else "", reasons.get(deal.lost_reason_id, "")]
            for deal, title in page.items]
    return header, rows, [d.id for d, _ in page.items]


def activity_rows(*, q: str = "", kind: str = "", state: str = "", owner: str = ""):
    """Every activity of the workspace (newest first), optionally of one kind or state (the
    activity list's, now), assigned to one member or to nobody ("nobody"), or of what `q`
    finds (activities.matching)."""
    stmt = sa.select(Activity).order_by(Activity.created_at.desc(), Activity.id)
    stmt = stmt.where(*activity_list.in_state(state, local_time.now()))
    if owner == "nobody":
        stmt = stmt.where(Activity.owner_id.is_(None))
    elif forms.uuid_or_none(owner) is not None:
        stmt = stmt.where(Activity.owner_id == forms.uuid_or_none(owner))
    if q.strip():
        stmt = stmt.where(activities.matching(q))
    if kind in ("call", "meeting", "email", "task"):
        stmt = stmt.where(Activity.kind == kind)
    found = list(db.session.execute(stmt).scalars())
    # The timelines of restricted contacts and of those who objected are not exported either.
    held = set(db.session.execute(sa.select(Contact.id).where(
        sa.or_(Contact.restricted_at.is_not(None), Contact.objected_at.is_not(None)))).scalars())
    found = [a for a in found if a.contact_id is None or a.contact_id not in held]
    people = _names(Contact, [a.contact_id for a in found], _contact_name)
    firms = _names(Company, [a.company_id for a in found], _company_name)
    titles = _names(Deal, [a.deal_id for a in found], lambda d: d.reveal("title"))
    header = ["Kind", "Subject", "Subject type", "Due date", "Due time", "Assigned to", "Done", "Done at", "Note",
              "Created at"]
    members = dict(deals.members())
    rows = []
    for a in found:
        subject, subject_id = activities.subject_of(a)
        name = {"contact": people, "company": firms, "deal": titles}[subject].get(subject_id, "")
        rows.append([a.kind, name, subject, a.due_on, activities.time_text(a),
                     members.get(str(a.owner_id), "") if a.owner_id else "",
                     "yes" if a.done else "no", a.done_at, a.reveal("note"), a.created_at])
    return header, rows, [a.id for a in found]


TARGETS = {"contacts": "contact", "companies": "company", "deals": "deal", "activities": "activity"}


def record(entity: str, ids: list, *, actor, tenant_id) -> None:
    """One read event for the export, naming every id it contains (crm.contacts.exported, ...)."""
    audit.record_read(f"crm.{entity}.exported", target_type=TARGETS[entity], target_ids=ids, actor=actor,
                      tenant_id=tenant_id, details={"count": len(ids)})
