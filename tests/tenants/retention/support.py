"""Helpers of the retention tests: CRM rows made at a chosen time, raw reads of what is stored."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, custom_fields, deals, stages
from tenantry.tenants.crm.models import SearchIndex
from tenantry.tenants.retention import service, sweep
from tenantry.tenants.retention.models import RetentionRun
from tests.identity.support import in_app


@contextlib.contextmanager
def as_tenant(app, ref):
    """A short application context inside the tenant's context; commits at the end."""
    with in_app(app), tenant_context(db.session.get(Tenant, ref.id)) as tenant:
        yield tenant


def at(frozen, when: datetime) -> None:
    frozen.move_to(when, tick=False)


def contact(app, ref, first="Jana", last="Nováková", email=None, phone="+420601234567", company_id=None) -> uuid.UUID:
    with as_tenant(app, ref):
        email = email or f"{first.lower()}.{uuid.uuid4().hex[:6]}@example.com"
        return contacts.create(contacts.ContactData(first_name=first, last_name=last, emails=[email],
                                                    phones=[phone] if phone else [], address="Praha 1",
                                                    position="Buyer", notes="Met at a fair", tags=["vip"],
                                                    company_id=company_id)).id


def company(app, ref, name="Acme s.r.o.", number="25596641") -> uuid.UUID:
    with as_tenant(app, ref):
        return companies.create(companies.CompanyData(name=name, country="CZ", company_number=number,
                                                      iban="", website="https://acme.example",
                                                      notes="Sole trader Jan Novák")).id


def activity(app, ref, subject: str, subject_id: uuid.UUID, note="Called about the renewal", due_on=None) -> uuid.UUID:
    with as_tenant(app, ref):
        return activities.create(subject, subject_id,
                                 activities.ActivityData(kind="call", note=note, due_on=due_on)).id


def deal(app, ref, stage="Lead", contact_id=None, company_id=None, title="Renewal for Jana Nováková") -> uuid.UUID:
    with as_tenant(app, ref):
        stage_id = {s.name: s.id for s in stages.ensure_defaults()}[stage]
        return deals.create(deals.DealData(title=title, value=Decimal("12500.50"), currency="CZK",
                                           stage_id=stage_id, contact_id=contact_id, company_id=company_id)).id


def custom_value(app, ref, contact_id: uuid.UUID, value="Allergic to nuts") -> None:
    with as_tenant(app, ref):
        definition = custom_fields.create(custom_fields.DefinitionData(
            label="Remarks", key="remarks", type="text", options=[], required=False, special_category=False))
        row = contacts.get(contact_id)
        with db.session.no_autoflush:
            custom_fields.save(row, {definition.id: value}, only=[definition])


def rule(app, ref, condition: str, months: int, action: str, enabled: bool = True) -> uuid.UUID:
    with as_tenant(app, ref):
        return service.create(service.RuleData(condition, months, action, enabled)).id


def preview(app, ref, condition: str, months: int, action: str, as_of: datetime, limit: int = 25):
    with as_tenant(app, ref):
        return service.preview(service.RuleData(condition, months, action), as_of=as_of, limit=limit)


def run_sweep(app, as_of: datetime, **kw) -> int:
    with in_app(app):
        return sweep.run(as_of, **kw)


def ids_of(app, model, *where) -> set[uuid.UUID]:
    with in_app(app, commit=False), all_tenants():
        return set(db.session.execute(sa.select(model.id).where(*where)).scalars())


def raw_row(app, model, row_id: uuid.UUID) -> dict | None:
    """The stored columns of a row, ciphertext as stored."""
    table = model.__table__
    with in_app(app, commit=False), all_tenants():
        row = db.session.execute(sa.select(table).where(table.c.id == row_id)).mappings().first()
        return dict(row) if row else None


def search_rows(app, entity: str, row_id: uuid.UUID) -> int:
    with in_app(app, commit=False), all_tenants():
        return db.session.execute(sa.select(sa.func.count()).select_from(SearchIndex).where(
            SearchIndex.entity == entity, SearchIndex.row_id == row_id)).scalar_one()


def runs(app, tenant_id: uuid.UUID) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        return [{"id": r.id, "status": r.status, "deleted": r.deleted, "anonymised": r.anonymised,
                 "counts": r.counts}
                for r in db.session.execute(sa.select(RetentionRun).where(RetentionRun.tenant_id == tenant_id)
                                            .order_by(RetentionRun.started_at)).scalars()]


def events(app, action: str, tenant_id: uuid.UUID | None = None) -> list[dict]:
    with in_app(app, commit=False), all_tenants():
        query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        if tenant_id is not None:
            query = query.where(AuditEvent.tenant_id == tenant_id)
        return [{"tenant_id": e.tenant_id, "actor_type": e.actor_type, "actor_id": e.actor_id,
                 "target_type": e.target_type, "target_id": e.target_id, "details": e.details}
                for e in db.session.execute(query).scalars()]
