"""The agreement in force and its acceptance by tenants [DPA-2.8]."""

from __future__ import annotations

import hashlib

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


# --- versions: publishing, listing, comparing [DPA-8.6] -----------------------------------

MIN_NOTICE_DAYS = 30


class PublishError(ValueError):
    """Refused input; `field` names the form field the message belongs next to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def versions() -> list[AgreementVersion]:
    """Every published version, newest first; upcoming ones included."""
    return list(db.session.execute(sa.select(AgreementVersion).order_by(AgreementVersion.version.desc())).scalars())


def publish(staff, *, title: str, body_markdown: str, summary: str, effective_at, override_reason: str = ""
            ) -> AgreementVersion:
    """Publish a new version and tell every tenant's owners by e-mail and in the product.

    The effective date is at least MIN_NOTICE_DAYS ahead so that controllers are told in good
    time; an earlier date needs a recorded reason (e.g. a change required by law).
    """
    from datetime import timedelta

    from tenantry.dpa import recipients, terms
    from tenantry.platform import notify

    title, summary, body_markdown = (title or "").strip(), (summary or "").strip(), (body_markdown or "").strip()
    override_reason = (override_reason or "").strip()
    if not title:
        raise PublishError("title", "Give the version a title.")
    if not body_markdown:
        raise PublishError("body_markdown", "The agreement text is empty.")
    if not summary:
        raise PublishError("summary", "Summarise the changes for the tenants.")
    for jurisdiction in terms.JURISDICTIONS:
        try:
            terms.render_terms(body_markdown, jurisdiction)
        except ValueError as exc:
            raise PublishError("body_markdown", str(exc)) from None
    now = clock.now()
    if effective_at is None or effective_at.tzinfo is None:
        raise PublishError("effective_at", "Give the effective date in UTC.")
    if effective_at <= now:
        raise PublishError("effective_at", "The effective date must be in the future.")
    if effective_at < now + timedelta(days=MIN_NOTICE_DAYS) and not override_reason:
        raise PublishError("effective_at", f"The effective date must be at least {MIN_NOTICE_DAYS} days ahead, "
                                           "or give the reason for the shorter notice.")
    latest = db.session.execute(sa.select(sa.func.max(AgreementVersion.version))).scalar_one() or 0
    version = AgreementVersion(
        version=latest + 1, title=title[:200], body_markdown=body_markdown, summary=summary,
        sha256=hashlib.sha256(body_markdown.encode()).hexdigest(), published_at=now, effective_at=effective_at,
        published_by_staff_id=staff.id,
    )
    db.session.add(version)
    db.session.flush()
    details = {"effective_at": effective_at.isoformat()}
    if effective_at < now + timedelta(days=MIN_NOTICE_DAYS):
        details["short_notice_reason"] = override_reason[:500]
    audit.record("agreement.published", actor=staff, target_type="agreement_version", target_id=version.version,
                 details=details)
    for tenant, owner in recipients.each_tenant_owner():
        link = f"{recipients.base_url()}/t/{tenant.slug}/agreement"
        notify.create(
            "agreement.published", recipient=owner, tenant_id=tenant.id, in_app=True, email=True, requires_ack=True,
            subject=f"Data processing agreement version {version.version} takes effect {effective_at:%Y-%m-%d}",
            body=(f"Tenantry published version {version.version} of the data processing agreement for "
                  f"{tenant.name}. It takes effect on {effective_at:%Y-%m-%d %H:%M} UTC.\n\n"
                  f"What changes:\n{summary}\n\nRead it, compare it with earlier versions and accept it at:\n{link}"),
        )
    return version


def diff_html(old: AgreementVersion, new: AgreementVersion, jurisdiction: str) -> str:
    """A side-by-side diff of two versions' texts in the jurisdiction's words; difflib escapes the text."""
    import difflib

    from tenantry.dpa import terms

    a = terms.render_terms(old.body_markdown, jurisdiction).splitlines()
    b = terms.render_terms(new.body_markdown, jurisdiction).splitlines()
    return difflib.HtmlDiff(wrapcolumn=80).make_table(a, b, f"Version {old.version}", f"Version {new.version}",
                                                      context=True, numlines=2)


def accepted_versions() -> set[int]:
    return {a.version.version for a in acceptances()}


def awaiting_acceptance(at=None) -> AgreementVersion | None:
    """The newest published version (in force or upcoming) the current tenant has not accepted."""
    newest = db.session.execute(
        sa.select(AgreementVersion).order_by(AgreementVersion.version.desc()).limit(1)).scalar_one_or_none()
    if newest is None or newest.version in accepted_versions():
        return None
    return newest
