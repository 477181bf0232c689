"""Rebuilding a tenant's contact index when a new kind of digest is added.

Version 2 added tags. Contacts saved since carry tag digests; older ones get them here, in
batches that each commit, so a sweep killed half-way resumes after the last finished batch.
Until a tenant's build reaches INDEX_VERSION, contacts.tagged() decrypts rather than trusting
an incomplete index.
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

from . import contacts, search
from .models import CONTACT, Contact, SearchIndexBuild

log = logging.getLogger(__name__)

INDEX_VERSION = 2
BATCH_SIZE = 500
# Tenants per sweep: the rest wait a minute rather than hold the sweep's other steps.
TENANTS_PER_SWEEP = 20


def is_current(tenant_id: uuid.UUID) -> bool:
    version = db.session.execute(
        sa.select(SearchIndexBuild.version).where(SearchIndexBuild.tenant_id == tenant_id)).scalar()
    return version is not None and version >= INDEX_VERSION


def rebuild(tenant: Tenant, *, batch_size: int = BATCH_SIZE) -> int:
    """Rebuild one batch of `tenant`'s contact digests; the number of contacts done (0 when
    the build was already current). Commits."""
    with tenant_context(tenant):
        build = db.session.get(SearchIndexBuild, tenant.id)
        if build is None:
            build = SearchIndexBuild(tenant_id=tenant.id, version=0)
            db.session.add(build)
        elif build.version >= INDEX_VERSION:
            return 0
        stmt = sa.select(Contact).where(Contact.tenant_id == tenant.id).order_by(Contact.id).limit(batch_size)
        if build.after_id is not None:
            stmt = stmt.where(Contact.id > build.after_id)
        # Locked, so that an edit cannot land between reading a contact and writing its digests.
        rows = db.session.execute(stmt.with_for_update()).scalars().all()
        cipher = fields.TenantCipher(tenant.id)
        for contact, plain in zip(rows, Contact.plain_all(rows), strict=True):
            search.replace(CONTACT, contact.id, contacts.index_pairs(plain, cipher))
        if len(rows) < batch_size:
            build.version, build.after_id = INDEX_VERSION, None
        else:
            build.after_id = rows[-1].id
        build.updated_at = clock.now()
    db.session.commit()
    return len(rows)


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
            log.exception("rebuilding the contact index of tenant %s failed; the next sweep resumes it", tenant.id)
    return done
