"""Rebuilding a tenant's search index when a new kind of digest is added.

Version 2 added contacts' tags, version 3 deals' titles, version 4 the IČO inside a Czech
VAT ID (search.company_id_values), version 5 the custom values' digests (their own column,
custom_fields.CustomValue.digest). Rows saved since carry their digests; older ones get them
here, in batches that each commit, so a sweep killed half-way resumes after the last finished
batch: first every contact (to version 2), then every deal (to 3), then every company (to 4),
then every custom value (to 5). Versions 6 to 8 add the joined form of names' words
("obrien" for O'Brien, fields.name_tokens) to every contact, deal and company in turn.

Until a tenant's build reaches a kind's version, searches by tags, titles and custom values
decrypt rather than trust an incomplete index (contacts.tagged, deals.titled,
custom_fields.holding); a company found by the IČO in its VAT ID only, or a name by its
joined words, is a convenience, and is simply not found until its row is rebuilt.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import sqlalchemy as sa

from tenantry.platform import clock
from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, TenantStatus, all_tenants, tenant_context

from . import companies, contacts, custom_fields, deals, search
from .models import COMPANY, CONTACT, DEAL, Company, Contact, Deal, SearchIndexBuild

log = logging.getLogger(__name__)

TAGS, DEAL_TITLES, COMPANY_IDS, CUSTOM_VALUES = 2, 3, 4, 5
JOINED_CONTACTS, JOINED_DEALS, JOINED_COMPANIES = 6, 7, 8
INDEX_VERSION = JOINED_COMPANIES


def _replacing(model, entity: str, pairs):
    """A pass's writer: each row's digests in the search index, from its plain values."""
    def write(rows: list, cipher: fields.TenantCipher) -> None:
        for row, plain in zip(rows, model.plain_all(rows), strict=True):
            search.replace(entity, row.id, pairs(plain, cipher))
    return write


# (the version a pass reaches, the rows it rebuilds, how it writes their digests)
_CONTACTS = _replacing(Contact, CONTACT, contacts.index_pairs)
_DEALS = _replacing(Deal, DEAL, lambda plain, cipher: deals.index_pairs(plain["title"], cipher))
_COMPANIES = _replacing(Company, COMPANY, companies.index_pairs)
_PASSES = (
    (TAGS, Contact, _CONTACTS),
    (DEAL_TITLES, Deal, _DEALS),
    (COMPANY_IDS, Company, _COMPANIES),
    (CUSTOM_VALUES, custom_fields.CustomValue, custom_fields.fill_digests),
    (JOINED_CONTACTS, Contact, _CONTACTS),
    (JOINED_DEALS, Deal, _DEALS),
    (JOINED_COMPANIES, Company, _COMPANIES),
)
BATCH_SIZE = 500
# Tenants per sweep: the rest wait a minute rather than hold the sweep's other steps.
TENANTS_PER_SWEEP = 20


def is_current(tenant_id: uuid.UUID, version: int = INDEX_VERSION) -> bool:
    """Whether the tenant's index holds every digest of `version` (TAGS, DEAL_TITLES)."""
    built = db.session.execute(
        sa.select(SearchIndexBuild.version).where(SearchIndexBuild.tenant_id == tenant_id)).scalar()
    return built is not None and built >= version


def start_current(tenant_id: uuid.UUID) -> None:
    """A new tenant has no row saved before any kind of digest existed: its index is current
    from the start, and searches need not decrypt until a sweep has looked at it."""
    db.session.add(SearchIndexBuild(tenant_id=tenant_id, version=INDEX_VERSION))


def rebuild(tenant: Tenant, *, batch_size: int = BATCH_SIZE) -> int:
    """Rebuild one batch of `tenant`'s digests, pass after pass (_PASSES); the number of rows
    done (0 when the build was already current). Commits."""
    with tenant_context(tenant):
        build = db.session.get(SearchIndexBuild, tenant.id)
        if build is None:
            build = SearchIndexBuild(tenant_id=tenant.id, version=0)
            db.session.add(build)
        elif build.version >= INDEX_VERSION:
            return 0
        cipher = fields.TenantCipher(tenant.id)
        done = 0
        while build.version < INDEX_VERSION and done < batch_size:
            reached, model, write = next(p for p in _PASSES if build.version < p[0])
            limit = batch_size - done
            stmt = sa.select(model).where(model.tenant_id == tenant.id).order_by(model.id).limit(limit)
            if build.after_id is not None:
                stmt = stmt.where(model.id > build.after_id)
            # Locked, so that an edit cannot land between reading a row and writing its digests.
            rows = db.session.execute(stmt.with_for_update()).scalars().all()
            write(rows, cipher)
            done += len(rows)
            if len(rows) < limit:
                build.version, build.after_id = reached, None
            else:
                build.after_id = rows[-1].id
        build.updated_at = clock.now()
    db.session.commit()
    return done


def sweep(_as_of: datetime) -> int:
    """The cron step: one batch for each tenant whose index is behind, a few tenants a run."""
    with all_tenants():
        behind = db.session.execute(
            sa.select(Tenant).outerjoin(SearchIndexBuild, SearchIndexBuild.tenant_id == Tenant.id)
            .where(Tenant.status != TenantStatus.DELETED.value,
                   sa.or_(SearchIndexBuild.version.is_(None), SearchIndexBuild.version < INDEX_VERSION))
            .order_by(Tenant.created_at).limit(TENANTS_PER_SWEEP)).scalars().all()
    done = 0
    for tenant in behind:
        try:
            done += rebuild(tenant)
        except Exception:
            db.session.rollback()
            log.exception("rebuilding the search index of tenant %s failed; the next sweep resumes it", tenant.id)
    return done
