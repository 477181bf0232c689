"""Changes to the deals ticked on the deal list: moved to a stage, given an owner (or none),
deleted with their activities; all or nothing, audited per deal, back to the same list;
refusals next to the choice they are about with the boxes still ticked; another tenant's
deals never changed; viewers cannot."""

from __future__ import annotations

import uuid
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from tenantry.platform import audit
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, all_tenants, tenant_context
from tenantry.tenants.crm import activities, deals, stages
from tenantry.tenants.crm.models import Activity, Deal
from tests.identity.support import in_app, new_member, new_tenant, text

from .conftest import signed_in


@pytest.fixture
def world(web_app, acme) -> dict[str, uuid.UUID]:
    """Three deals in the first stage but one (in "won"), a member who may own them, and the
    stages by key."""
    return _deals(web_app, acme)


def _deals(web_app, tenant) -> dict[str, uuid.UUID]:
    owner = new_member(web_app, tenant, "member", email=f"olga@{tenant.slug}.example.com")
    with in_app(web_app), tenant_context(db.session.get(Tenant, tenant.id)):
        pipeline = stages.ensure_defaults()
        first, won = pipeline[0].id, pipeline[-2].id

        def deal(title, stage_id, **more):
            return deals.create(deals.DealData(title=title, value=Decimal("100"), currency="CZK", stage_id=stage_id,
                                               **more)).id

        ids = {"windows": deal("Okna", first), "doors": deal("Dveře", first, owner_id=owner.id),
               "roof": deal("Střecha", won), "first": first, "won": won, "olga": owner.id}
        activities.create("deal", ids["windows"], activities.ActivityData(kind="call"))
        return ids


def _deal(web_app, deal_id) -> Deal | None:
    with in_app(web_app, commit=False), all_tenants():
        found = db.session.get(Deal, deal_id)
        if found is not None:
            db.session.expunge(found)
        return found


def _events(web_app, action: str) -> list[AuditEvent]:
    with in_app(web_app, commit=False), all_tenants():
        return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.occurred_at)).all()


def _post(client, **form):
    return client.post("/t/acme/crm/deals/bulk", data=form)


def test_the_deals_ticked_move_to_a_stage_and_the_list_comes_back_as_it_was(web_app, member, acme, world):
    before = len(_events(web_app, "crm.deal.updated"))
    moved = _post(member, ids=[str(world["windows"]), str(world["roof"])], action="stage",
                  bulk_stage=str(world["won"]), list_sort="newest", list_stage=str(world["first"]))
    assert moved.status_code == 302
    assert moved.headers["Location"].endswith(f"/t/acme/crm/deals?stage={world['first']}&sort=newest")
    assert _deal(web_app, world["windows"]).stage_id == world["won"]
    updated = _events(web_app, "crm.deal.updated")
    assert len(updated) == before + 1 and updated[-1].target_id == str(world["windows"])
    assert updated[-1].details["via"] == "bulk"
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert audit.changes_of(updated[-1]) == {"stage_id": (str(world["first"]), str(world["won"]))}
    assert "1 deal moved to Won (of 2 chosen)." in unescape(text(member.get(moved.headers["Location"])))


def test_the_deals_ticked_get_an_owner_or_none(web_app, member, acme, world):
    ids = [str(world["windows"]), str(world["doors"])]
    given = _post(member, ids=ids, action="owner", bulk_owner=str(world["olga"]))
    assert given.status_code == 302
    assert "1 deal given to" in unescape(text(member.get(given.headers["Location"])))
    assert _deal(web_app, world["windows"]).owner_id == world["olga"]
    with in_app(web_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        assert audit.changes_of(_events(web_app, "crm.deal.updated")[-1]) == {
            "owner_id": (None, str(world["olga"]))}
    nobody = _post(member, ids=ids, action="owner", bulk_owner="nobody")
    assert "2 deals left without an owner (of 2 chosen)." in unescape(text(member.get(nobody.headers["Location"])))
    assert _deal(web_app, world["doors"]).owner_id is None


def test_the_deals_ticked_are_deleted_with_their_activities_each_audited(web_app, member, world):
    answer = _post(member, ids=[str(world["windows"]), str(world["roof"])], action="delete")
    assert "2 deals deleted." in text(member.get(answer.headers["Location"]))
    assert _deal(web_app, world["windows"]) is None and _deal(web_app, world["roof"]) is None
    assert _deal(web_app, world["doors"]) is not None
    assert {e.target_id for e in _events(web_app, "crm.deal.deleted")} == {str(world["windows"]), str(world["roof"])}
    with in_app(web_app, commit=False), all_tenants():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Activity)
                                 .where(Activity.deal_id == world["windows"])) == 0


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"action": "stage"}, "stage", "Choose the stage to move the deals to."),
    ({"action": "stage", "bulk_stage": "GONE"}, "stage", "That stage is no longer in this workspace's pipeline."),
    ({"action": "owner"}, "owner", "Choose the new owner, a member of this workspace, or nobody."),
    ({"action": "owner", "bulk_owner": "STRANGER"}, "owner", "The owner must be an active member of this workspace."),
    ({"action": "explode"}, "action", "Choose what to do with the deals chosen."),
    ({"action": "stage", "bulk_stage": "WON", "ids": []}, "ids", "Choose at least one deal"),
    ({"action": "stage", "bulk_stage": "WON", "extra": "gone"}, "ids", "1 deal chosen is no longer in this workspace."),
    ({"action": "stage", "bulk_stage": "WON", "extra": "other"}, "ids", "1 deal chosen is no longer in this workspace."),
    ({"action": "delete", "extra": "not-an-id"}, "ids", "Choose deals from the list."),
])
def test_a_refusal_is_shown_next_to_its_choice_and_nothing_is_written(web_app, member, acme, world, form, field,
                                                                      message):
    form = dict(form)
    chosen = form.pop("ids", [str(world["windows"])])
    extra = form.pop("extra", None)
    if extra == "gone":
        chosen.append(str(uuid.uuid4()))
    elif extra == "not-an-id":
        chosen.append("x")
    elif extra == "other":
        chosen.append(str(_deals(web_app, new_tenant(web_app, "other", country="CZ"))["doors"]))
    swap = {"GONE": str(uuid.uuid4()), "WON": str(world["won"]), "STRANGER": str(uuid.uuid4())}
    form = {name: swap.get(value, value) for name, value in form.items()}
    before = len(_events(web_app, "crm.deal.updated")) + len(_events(web_app, "crm.deal.deleted"))
    answer = _post(member, **form, ids=chosen, list_q="okna")
    assert answer.status_code == 422
    html = unescape(text(answer))
    assert f'<p class="error" id="bulk-{field}-err" role="alert">{message}' in html
    assert 'value="okna"' in html  # the list it was sent from
    if field in ("stage", "owner"):
        assert f'id="pick-{world["windows"]}" class="pick" checked' in html
        assert f'id="bulk-{field}" aria-invalid="true" aria-describedby="bulk-{field}-err"' in html
    windows = _deal(web_app, world["windows"])
    assert windows.stage_id == world["first"] and windows.owner_id is None
    assert len(_events(web_app, "crm.deal.updated")) + len(_events(web_app, "crm.deal.deleted")) == before


def test_viewers_get_no_boxes_and_cannot(web_app, acme, world, member):
    viewer = signed_in(web_app, acme, "viewer")
    html = text(viewer.get("/t/acme/crm/deals"))
    assert "Okna" in html and 'form="bulk"' not in html and 'id="bulk"' not in html
    page = text(member.get("/t/acme/crm/deals"))
    assert 'id="bulk"' in page and 'aria-label="Tick Okna"' in page and '<option value="nobody">Nobody</option>' in page
    refused = viewer.post("/t/acme/crm/deals/bulk", data={"ids": [str(world["windows"])], "action": "delete"})
    assert refused.status_code == 403 and _deal(web_app, world["windows"]) is not None
