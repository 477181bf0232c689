"""Helpers of the registry tests: accounts kept as plain values between application contexts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tenantry.dpa.registry import services
from tenantry.platform.db import db
from tenantry.platform.identity.models import StaffUser
from tests import factories


@dataclass
class Acct:
    id: uuid.UUID
    email: str
    is_staff: bool = False
    _test_secret: str | None = None


def new_staff(app, role: str = "platform-admin") -> Acct:
    with app.app_context():
        staff = factories.make_staff(role)
        db.session.commit()
        return Acct(staff.id, staff.email, True, staff._test_secret)


def new_tenant(app, slug: str, **kw) -> tuple[uuid.UUID, Acct]:
    with app.app_context():
        tenant = factories.make_tenant(slug, **kw)
        owner = tenant._test_owner
        db.session.commit()
        return tenant.id, Acct(owner.id, owner.email)


def signed_in(app, who: Acct):
    client = app.test_client()
    factories.sign_in(client, who)
    return client


PROPOSAL = dict(
    legal_name="Acme Translate GmbH", address="Hauptstrasse 1, 10115 Berlin, Germany",
    contact="privacy@acme-translate.example", purpose="Machine translation of notes",
    data_categories="Text of notes a user asks to translate", processing_location="Germany",
    processing_in_eea=True, corporate_location="Germany", corporate_in_eea=True, transfer_mechanism="eea",
    transfer_details="", feature="translation",
)


def propose(app, staff: Acct, effective_at: datetime, window_days: int = 5, **overrides) -> uuid.UUID:
    """Propose through the service and let the inline mail jobs deliver the notices."""
    with app.app_context():
        sub = services.propose(db.session.get(StaffUser, staff.id), effective_at=effective_at,
                               window_days=window_days, **{**PROPOSAL, **overrides})
        db.session.commit()
        return sub.id


def days(n: float) -> timedelta:
    return timedelta(days=n)
