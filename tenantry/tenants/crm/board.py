"""The pipeline board: each stage of the tenant's pipeline as a column of its deals, with how
many there are and what they are worth, and a deal moved from one stage to another.

Counts, sums and the choice of cards run in SQL (value, currency and stage are in the clear);
only the cards shown are decrypted. A column shows its most valuable deals of each currency,
at most CARDS_PER_STAGE of them; the deal list, filtered by the stage, has the rest. The cap
also keeps the contacts one board names (six default stages: at most 120) under the mass-read alert's
default of 200 distinct contacts in ten minutes (tenants.anomalies), so that looking at the
board is not itself an anomaly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant

from . import currencies, deals, overview, stages
from .models import Deal, PipelineStage

CARDS_PER_STAGE = 20


@dataclass
class Column:
    stage: PipelineStage
    cards: list[tuple[Deal, str]]  # deal, its title
    total: overview.StageTotal

    @property
    def more(self) -> int:
        return self.total.deals - len(self.cards)


def columns(*, q: str = "", owner_id: uuid.UUID | None = None, unowned: bool = False,
            per_stage: int | None = None) -> list[Column]:
    """Every stage in the tenant's order, with the deals `q` finds (all when empty) of `owner_id`
    (anyone's when None), or of no one (`unowned`)."""
    pipeline = stages.ordered()
    per_stage = per_stage or CARDS_PER_STAGE
    conditions = [Deal.tenant_id == current_tenant.id]
    if q.strip():
        conditions.append(deals.matching(q))
    if owner_id is not None:
        conditions.append(Deal.owner_id == owner_id)
    elif unowned:
        conditions.append(Deal.owner_id.is_(None))
    totals = overview.stage_totals(pipeline, *conditions)
    # Amounts in different currencies do not compare (no exchange rates here): a column takes
    # each currency's most valuable deal, then each one's second, and so on, so that one large
    # EUR deal is not pushed off the board by twenty small HUF ones. It shows them as the deal
    # list does, each currency together, the workspace's own first.
    foreign = Deal.currency != currencies.of_country(current_tenant.country)
    in_currency = sa.func.row_number().over(
        partition_by=(Deal.stage_id, Deal.currency),
        order_by=(Deal.value.desc(), Deal.created_at.desc(), Deal.id)).label("in_currency")
    by_currency = sa.select(Deal.id, Deal.stage_id, Deal.currency, Deal.created_at, foreign.label("foreign"),
                            in_currency).where(*conditions).subquery()
    c = by_currency.c
    place = sa.func.row_number().over(
        partition_by=c.stage_id, order_by=(c.in_currency, c.foreign, c.currency, c.created_at.desc(), c.id)).label("place")
    ranked = sa.select(c.id, place).subquery()
    chosen = db.session.execute(
        sa.select(Deal).join(ranked, ranked.c.id == Deal.id).where(ranked.c.place <= per_stage)
        .order_by(Deal.stage_id, foreign, Deal.currency, Deal.value.desc(), Deal.created_at.desc(), Deal.id)
    ).scalars().all()
    by_stage: dict[uuid.UUID, list[tuple[Deal, str]]] = {s.id: [] for s in pipeline}
    for deal in chosen:
        by_stage[deal.stage_id].append((deal, deal.reveal("title")))
    return [Column(s, by_stage[s.id], totals[s.id]) for s in pipeline]


def move(deal: Deal, stage_id: uuid.UUID | None, *, actor=None, via: str = "board") -> bool:
    """The deal goes to another of the tenant's stages, audited as a change of the deal made
    `via` the board or the list's bulk change. False when it was in that stage already
    (nothing written)."""
    if stage_id is None:
        raise deals.Refused("stage", "Choose a stage to move the deal to.")
    if stages.get(stage_id) is None:
        raise deals.Refused("stage", "That stage is no longer in this workspace's pipeline. Reload the board.")
    return deals.set_column(deal, "stage_id", stage_id, actor=actor, via=via)
