"""Incremental sync: every CRM list of the API takes `changed_since`, and every record has
`changed_at`, which moves with any change of the record, however made (an edit through the UI
or the API, a board move, a company deleted from under its contacts, a merge moving activities)
and not with a re-encryption under a new key; a bad time is a 422 next to the parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tenantry.platform import jobs
from tenantry.platform.crypto import rotation
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, board, companies, contacts, deals, stages
from tenantry.tenants.crm.models import Activity, Company, Contact, Deal
from tests.identity.support import in_app
from tests.tenants.api.conftest import Bearer, new_client, token_for

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=3)
LISTS = ("contacts", "companies", "deals", "activities")


@pytest.fixture
def world(api_app, acme, time_machine) -> dict:
    """At T0: Jana and Petr at the glassworks, a deal with a call, a task on Petr."""
    time_machine.move_to(T0, tick=False)
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        glass = companies.create(companies.CompanyData(name="Sklárna Bor", country="CZ"))
        db.session.flush()
        jana = contacts.create(contacts.ContactData(first_name="Jana", last_name="Nováková", company_id=glass.id))
        petr = contacts.create(contacts.ContactData(first_name="Petr", last_name="Svoboda", company_id=glass.id))
        lead = stages.ensure_defaults()[0]
        deal = deals.create(deals.DealData(title="Okna", value=Decimal("100"), currency="CZK", stage_id=lead.id))
        call = activities.create("deal", deal.id, activities.ActivityData(kind="call", note="Call back"))
        task = activities.create("contact", petr.id, activities.ActivityData(kind="task", note="Send the offer"))
        return {"glass": glass.id, "jana": jana.id, "petr": petr.id, "deal": deal.id, "call": call.id,
                "task": task.id, "stages": {s.name: s.id for s in stages.ordered()}}


def _api(api_app, acme) -> Bearer:
    http = api_app.test_client()
    return Bearer(http, token_for(http, new_client(api_app, acme)))


def _changed(api, since: str) -> dict[str, list[str]]:
    found = {}
    for name in LISTS:
        answer = api.get(f"/api/v1/{name}", query_string={"changed_since": since})
        assert answer.status_code == 200, answer.get_json()
        found[name] = sorted(item["id"] for item in answer.get_json()["items"])
    return found


def test_the_lists_give_what_changed_since_a_time_however_it_changed(api_app, acme, world, time_machine):
    api = _api(api_app, acme)
    assert all(len(ids) for ids in _changed(api, T0.isoformat()).values())  # everything was made at T0
    jana = api.get(f"/api/v1/contacts/{world['jana']}").get_json()
    assert jana["changed_at"] == jana["updated_at"] == "2026-05-04T08:00:00+00:00"
    time_machine.move_to(T1, tick=False)
    api = _api(api_app, acme)  # the first token has expired by now
    assert _changed(api, "2026-05-04T10:00:00Z") == dict.fromkeys(LISTS, [])
    # An edit by the API, a move on the board, a task done.
    assert api.patch(f"/api/v1/contacts/{world['jana']}", json={"position": "Buyer"}).status_code == 200
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        board.move(deals.get(world["deal"]), world["stages"]["Proposal"])
        activities.complete(db.session.get(Activity, world["task"]), done=True)
    assert _changed(api, "2026-05-04T10:00:00Z") == {
        "contacts": [str(world["jana"])], "companies": [], "deals": [str(world["deal"])],
        "activities": [str(world["task"])]}
    # The offset is the caller's; a day is the workspace's (Prague: 4 May from 22:00 UTC on the 3rd).
    assert _changed(api, "2026-05-04T12:00:00+02:00")["contacts"] == [str(world["jana"])]
    assert _changed(api, "2026-05-04")["companies"] == [str(world["glass"])]
    assert _changed(api, "2026-05-05") == dict.fromkeys(LISTS, [])
    moved = api.get(f"/api/v1/deals/{world['deal']}").get_json()
    assert (moved["changed_at"], moved["updated_at"]) == ("2026-05-04T11:00:00+00:00", "2026-05-04T11:00:00+00:00")
    # Pages keep the filter.
    first = api.get("/api/v1/contacts", query_string={"changed_since": T0.isoformat(), "limit": 1}).get_json()
    rest = api.get("/api/v1/contacts", query_string={"changed_since": T0.isoformat(), "limit": 1,
                                                      "cursor": first["next_cursor"]}).get_json()
    assert len(first["items"]) == len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_a_change_made_around_the_record_is_a_change_of_it(api_app, acme, world, time_machine):
    """What changes a record's fields without an edit of it: its company deleted (its contacts
    lose it), its deal merged into another (its activities move)."""
    time_machine.move_to(T1, tick=False)
    with in_app(api_app), tenant_context(db.session.get(Tenant, acme.id)):
        other = deals.create(deals.DealData(title="Okna 2", value=Decimal("5"), currency="CZK",
                                            stage_id=world["stages"]["Lead"])).id
    since = "2026-05-04T10:30:00Z"
    time_machine.move_to(T1 + timedelta(hours=1), tick=False)
    api = _api(api_app, acme)
    assert api.delete(f"/api/v1/companies/{world['glass']}").status_code == 204
    merged = api.post(f"/api/v1/deals/{other}/merge", json={"other_id": str(world["deal"])})
    assert merged.status_code == 200, merged.get_json()
    assert _changed(api, since) == {
        "contacts": sorted([str(world["jana"]), str(world["petr"])]), "companies": [],
        "deals": [str(other)], "activities": [str(world["call"])]}


def test_a_new_key_changes_no_record(api_app, acme, world, time_machine):
    time_machine.move_to(T1, tick=False)
    with in_app(api_app):
        rotation.rotate(db.session.get(Tenant, acme.id))
    jobs.drain()  # inline jobs ran at once; queued ones run now
    with in_app(api_app, commit=False), tenant_context(db.session.get(Tenant, acme.id)):
        done = rotation.current(acme.id)
        assert (done.status, done.values_reencrypted) == ("done", 8)  # every name, note and title moved
        stamps = [db.session.scalars(sa.select(model.changed_at)).all() for model in (Contact, Company, Deal, Activity)]
    assert {stamp.astimezone(UTC) for column in stamps for stamp in column} == {T0}


@pytest.mark.parametrize("given", ["yesterday", "2026-05-04T08:00:00", "1999-12-31", "2026-13-01"])
def test_a_bad_time_is_refused_next_to_the_parameter(api_app, acme, world, given):
    api = _api(api_app, acme)
    for name in LISTS:
        answer = api.get(f"/api/v1/{name}", query_string={"changed_since": given})
        assert answer.status_code == 422, (name, answer.get_json())
        assert list(answer.get_json()["error"]["fields"]) == ["changed_since"]


def test_a_day_out_of_range_says_so(api_app, acme, world):
    answer = _api(api_app, acme).get("/api/v1/contacts", query_string={"changed_since": "1999-12-31"})
    assert answer.get_json()["error"]["fields"] == {"changed_since": "Choose a day after 2000-01-01."}
