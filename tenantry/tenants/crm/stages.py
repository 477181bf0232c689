"""A tenant's own pipeline stages: seeded once, then added, renamed, reordered and deleted by admins."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.db import by_id, db
from tenantry.platform.tenancy import current_tenant

from .models import Deal, PipelineStage

# name, won, lost, probability (per cent)
DEFAULTS = (("Lead", False, False, 10), ("Qualified", False, False, 25), ("Proposal", False, False, 50),
            ("Negotiation", False, False, 75), ("Won", True, False, 100), ("Lost", False, True, 0))
PROBABILITY_NEEDED = "Give the chance of winning a deal in this stage, from 0 to 100 %."


class StageError(ValueError):
    """A change the pipeline refuses; the message says why, and `field` which value it is about."""

    def __init__(self, message: str, field: str = "name"):
        super().__init__(message)
        self.field = field


def ordered() -> list[PipelineStage]:
    return list(db.session.execute(
        sa.select(PipelineStage).order_by(PipelineStage.position, PipelineStage.name)).scalars())


def ensure_defaults() -> list[PipelineStage]:
    """The tenant's stages, seeding the defaults the first time deals are opened."""
    return seeded(ordered, lambda: [
        PipelineStage(tenant_id=current_tenant.id, name=name, position=position, is_won=won, is_lost=lost,
                      probability=probability)
        for position, (name, won, lost, probability) in enumerate(DEFAULTS, start=1)])


def seeded(listed: Callable[[], list], defaults: Callable[[], list]) -> list:
    """listed(), after adding defaults() when it is empty: a workspace's own list (stages, lost
    reasons) seeded on first use. Its unique names make a concurrent first request's seeding
    fail here; theirs stand."""
    found = listed()
    if found:
        return found
    try:
        with db.session.begin_nested():
            db.session.add_all(defaults())
    except sa.exc.IntegrityError:
        pass
    return listed()


def get(stage_id: uuid.UUID) -> PipelineStage | None:
    return by_id(PipelineStage, stage_id)


def name_taken(model, name: str, except_id: uuid.UUID | None = None) -> bool:
    """Whether another of the workspace's `model` rows (stages, reasons lost: a few each) has
    this name in any case. Compared here, not by SQL lower(), which SQLite applies to ASCII
    letters only: "Čekání" and "čekání" are one name."""
    wanted = name.casefold()
    return any(row_id != except_id and other.casefold() == wanted
               for row_id, other in db.session.execute(sa.select(model.id, model.name)))


def _probability(won: bool, lost: bool, probability: int | None) -> int:
    """The stage's probability: 100 for a won stage and 0 for a lost one whatever was given
    (an outcome is certain), else `probability`, which an open stage needs."""
    if won and lost:
        raise StageError("A stage is either won or lost, not both.")
    if won or lost:
        return 100 if won else 0
    if probability is None or not 0 <= probability <= 100:
        raise StageError(PROBABILITY_NEEDED, "probability")
    return probability


def _shown(stage: PipelineStage) -> dict:
    # Stage names describe the tenant's process, not people: plain details of the event.
    return {"name": stage.name, "outcome": outcome(stage), "probability": stage.probability}


def outcome(stage: PipelineStage) -> str:
    return "won" if stage.is_won else "lost" if stage.is_lost else "open"


def add(name: str, *, won: bool = False, lost: bool = False, probability: int = 100,
        actor=None) -> PipelineStage:
    probability = _probability(won, lost, probability)
    if name_taken(PipelineStage, name):
        raise StageError(f"There is already a stage called “{name}”.")
    pipeline = ordered()
    # An open stage goes before the won and lost ones that end the pipeline, a closed one last.
    at = next((i for i, s in enumerate(pipeline) if s.is_won or s.is_lost), len(pipeline)) \
        if not (won or lost) else len(pipeline)
    stage = PipelineStage(tenant_id=current_tenant.id, name=name, position=at + 1, is_won=won, is_lost=lost,
                          probability=probability)
    for later in pipeline[at:]:
        later.position += 1
    db.session.add(stage)
    db.session.flush()
    audit.record("crm.stage.created", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id, details=_shown(stage))
    return stage


def update(stage: PipelineStage, name: str, *, won: bool, lost: bool, probability: int | None = None,
           actor=None) -> bool:
    """Rename the stage, change its outcome or its probability (None: as it is). False when
    nothing changed (nothing written, nothing audited)."""
    probability = _probability(won, lost, stage.probability if probability is None else probability)
    if name_taken(PipelineStage, name, stage.id):
        raise StageError(f"There is already a stage called “{name}”.")
    if (won, lost) != (stage.is_won, stage.is_lost):
        # Its deals would become won or lost (or open again) unsaid, dated by when they entered
        # the stage and keeping or lacking a reason lost: moving them is each deal's own change.
        held = deal_count(stage.id)
        if held:
            raise StageError(f"“{stage.name}” holds {held} deal{'s' if held != 1 else ''}: move "
                             f"{'them' if held != 1 else 'it'} to another stage before changing its outcome, "
                             "or add a new stage with the outcome you want.", "outcome")
    before = _shown(stage)
    stage.name, stage.is_won, stage.is_lost, stage.probability = name, won, lost, probability
    after = _shown(stage)
    if after == before:
        return False
    db.session.flush()
    audit.record("crm.stage.updated", actor=actor, tenant_id=stage.tenant_id, target_type="pipeline_stage",
                 target_id=stage.id, details={"from": {k: v for k, v in before.items() if after[k] != v},
                                              "to": {k: v for k, v in after.items() if before[k] != v}})
    return True


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
