"""A tenant's own pipeline stages: seeded once, then added, renamed, reordered and deleted by admins."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from .models import Deal, PipelineStage

DEFAULTS = (("Lead", False, False), ("Qualified", False, False), ("Proposal", False, False),
            ("Negotiation", False, False), ("Won", True, False), ("Lost", False, True))


class StageError(ValueError):
    """A change the pipeline refuses; the message says why."""


def ordered() -> list[PipelineStage]:
    return list(db.session.execute(
        sa.select(PipelineStage).order_by(PipelineStage.position, PipelineStage.name)).scalars())


def ensure_defaults() -> list[PipelineStage]:
    """The tenant's stages, seeding the defaults the first time deals are opened."""
    stages = ordered()
    if stages:
        return stages
    try:
        with db.session.begin_nested():
            for position, (name, won, lost) in enumerate(DEFAULTS, start=1):
                db.session.add(PipelineStage(tenant_id=current_tenant.id, name=name, position=position,
                                             is_won=won, is_lost=lost))
    except sa.exc.IntegrityError:
        pass  # a concurrent first request seeded them: theirs stand
    return ordered()


def get(stage_id: uuid.UUID) -> PipelineStage | None:
    return by_id(PipelineStage, stage_id)


def _name_taken(name: str, except_id: uuid.UUID | None = None) -> bool:
    stmt = sa.select(PipelineStage.id).where(sa.func.lower(PipelineStage.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(PipelineStage.id != except_id)
    return db.session.execute(stmt.limit(1)).scalar() is not None


def _flags(won: bool, lost: bool) -> None:
    if won and lost:
        raise StageError("A stage is either won or lost, not both.")


def add(name: str, *, won: bool = False, lost: bool = False, actor=None) -> PipelineStage:
    _flags(won, lost)
    if _name_taken(name):
        raise StageError(f"There is already a stage called “{name}”.")
    last = db.session.execute(sa.select(sa.func.max(PipelineStage.position))).scalar() or 0
    stage = PipelineStage(tenant_id=current_tenant.id, name=name, position=last + 1, is_won=won, is_lost=lost)
    db.session.add(stage)
    db.session.flush()
    audit.record("crm.stage.created", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id)
    return stage


def update(stage: PipelineStage, name: str, *, won: bool, lost: bool, actor=None) -> None:
    _flags(won, lost)
    if _name_taken(name, stage.id):
        raise StageError(f"There is already a stage called “{name}”.")
    stage.name, stage.is_won, stage.is_lost = name, won, lost
    db.session.flush()
    audit.record("crm.stage.updated", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id)


def move(stage: PipelineStage, direction: str, *, actor=None) -> None:
    """Swap with the neighbour above ("up") or below ("down"); positions are renumbered 1..n."""
    stages = ordered()
    i = next(i for i, s in enumerate(stages) if s.id == stage.id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(stages):
        stages[i], stages[j] = stages[j], stages[i]
    for position, s in enumerate(stages, start=1):
        s.position = position
    db.session.flush()
    audit.record("crm.stage.moved", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id)


def deal_count(stage_id: uuid.UUID) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(Deal).where(Deal.stage_id == stage_id)).scalar_one()


def delete(stage: PipelineStage, *, actor=None) -> None:
    used = deal_count(stage.id)
    if used:
        raise StageError(f"“{stage.name}” still holds {used} deal{'s' if used != 1 else ''}: "
                         "move them to another stage first.")
    if len(ordered()) == 1:
        raise StageError("The pipeline needs at least one stage.")
    db.session.delete(stage)
    db.session.flush()
    audit.record("crm.stage.deleted", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id)
