"""The agreement in force and its acceptance by tenants [DPA-2.8]."""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context, request

from tenantry.dpa.models import AgreementAcceptance, AgreementVersion
from tenantry.platform import audit, clock
from tenantry.platform.db import db


def in_force(at=None) -> AgreementVersion:
    at = at or clock.now()
    version = db.session.execute(
        sa.select(AgreementVersion).where(AgreementVersion.effective_at <= at)
        .order_by(AgreementVersion.version.desc()).limit(1)
    ).scalar_one_or_none()
    if version is None:
        raise LookupError("no version of the agreement is in force; run the migrations")
    return version


def by_number(number: int) -> AgreementVersion | None:
    return db.session.execute(
        sa.select(AgreementVersion).where(AgreementVersion.version == number)
    ).scalar_one_or_none()


def accept(tenant, user, version: AgreementVersion) -> AgreementAcceptance:
    """Record that `user` accepted `version` for `tenant`, with the time and where from."""
    row = AgreementAcceptance(
        tenant_id=tenant.id,
        agreement_version_id=version.id,
        user_id=user.id,
        accepted_by_email=user.email,
        accepted_at=clock.now(),
        ip=request.remote_addr if has_request_context() else None,
        user_agent=request.user_agent.string[:400] if has_request_context() else None,
    )
    db.session.add(row)
    audit.record("agreement.accepted", actor=user, tenant_id=tenant.id, target_type="agreement_version",
                 target_id=version.version)
    return row


def acceptances() -> list[AgreementAcceptance]:
    """The current tenant's acceptances, newest first."""
    return list(db.session.execute(
        sa.select(AgreementAcceptance).order_by(AgreementAcceptance.accepted_at.desc())
    ).scalars())


def has_concluded(tenant) -> bool:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(AgreementAcceptance).where(AgreementAcceptance.tenant_id == tenant.id)
    ).scalar_one() > 0
