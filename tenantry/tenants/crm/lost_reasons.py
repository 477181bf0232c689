"""A workspace's own reasons for losing a deal: seeded once, then added, renamed and deleted by
admins beside the pipeline stages. A lost deal may give one (deals.py); the sales report counts
the lost deals by reason."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from . import stages
from .models import Deal, LostReason

DEFAULTS = ("Price", "Chose a competitor", "No budget", "No decision", "Timing")
MAX_NAME = 80


class ReasonError(ValueError):
    """A change of the list refused; the message says why."""


def ordered() -> list[LostReason]:
    return list(db.session.execute(
        sa.select(LostReason).order_by(LostReason.position, LostReason.name)).scalars())


def ensure_defaults() -> list[LostReason]:
    """The workspace's reasons, seeding the defaults the first time they are wanted."""
    return stages.seeded(ordered, lambda: [LostReason(tenant_id=current_tenant.id, name=name, position=position)
                                           for position, name in enumerate(DEFAULTS, start=1)])


def get(reason_id: uuid.UUID) -> LostReason | None:
    return by_id(LostReason, reason_id)


def _checked(name: str, except_id: uuid.UUID | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise ReasonError("Give the reason a name.")
    if len(name) > MAX_NAME:
        raise ReasonError(f"A reason is at most {MAX_NAME} characters.")
    if stages.name_taken(LostReason, name, except_id):
        raise ReasonError(f"There is already a reason called “{name}”.")
    return name


def add(name: str, *, actor=None) -> LostReason:
    name = _checked(name)
    last = db.session.execute(sa.select(sa.func.max(LostReason.position))).scalar() or 0
    reason = LostReason(tenant_id=current_tenant.id, name=name, position=last + 1)
    db.session.add(reason)
    db.session.flush()
    audit.record("crm.lost-reason.created", actor=actor, tenant_id=reason.tenant_id, target_type="lost_reason",
                 target_id=reason.id, details={"name": name})
    return reason


def rename(reason: LostReason, name: str, *, actor=None) -> bool:
    """False when the name is the same (nothing written, nothing audited)."""
    name = _checked(name, reason.id)
    if name == reason.name:
        return False
    before, reason.name = reason.name, name
    db.session.flush()
    audit.record("crm.lost-reason.updated", actor=actor, tenant_id=reason.tenant_id, target_type="lost_reason",
                 target_id=reason.id, details={"from": {"name": before}, "to": {"name": name}})
    return True


def used(reason_id: uuid.UUID) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Deal).where(Deal.lost_reason_id == reason_id)).scalar_one()


def usage() -> dict[uuid.UUID, int]:
    """How many deals give each reason that some deal gives."""
    return dict(db.session.execute(
        sa.select(Deal.lost_reason_id, sa.func.count()).where(Deal.lost_reason_id.is_not(None))
        .group_by(Deal.lost_reason_id)).all())


def delete(reason: LostReason, *, actor=None) -> None:
    """Refused while a deal gives the reason: what it says of those deals would be lost."""
    count = used(reason.id)
    if count:
        raise ReasonError(f"{count} lost deal{'s give' if count != 1 else ' gives'} “{reason.name}”: "
                          "rename it, or give those deals another reason first.")
    db.session.delete(reason)
    db.session.flush()
    audit.record("crm.lost-reason.deleted", actor=actor, tenant_id=reason.tenant_id, target_type="lost_reason",
                 target_id=reason.id, details={"name": reason.name})
