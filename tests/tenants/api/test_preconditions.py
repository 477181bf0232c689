"""ETag and If-Match on the CRM's objects: every answer with one object names its version, a
PATCH or DELETE with an older one is refused (412) and changes nothing, `*` and no If-Match are
not checked, and a malformed If-Match is a 400. The OpenAPI document says so."""

from __future__ import annotations

import pytest

from tests.tenants.api.conftest import error_of

MINIMAL = {"companies": {"name": "Acme"}, "contacts": {"first_name": "Jana"},
           "deals": {"title": "Renewal", "value": "10", "currency": "CZK"}, "activities": {"kind": "call"}}
CHANGE = {"companies": {"notes": "Pays late"}, "contacts": {"notes": "Wants a quote"},
          "deals": {"title": "Renewal 2027"}, "activities": {"note": "Call back"}}


def _made(api, resource: str):
    body = dict(MINIMAL[resource])
    if resource == "activities":
        body["contact_id"] = api.post("/api/v1/contacts", json={"first_name": "Eva"}).get_json()["id"]
    made = api.post(f"/api/v1/{resource}", json=body)
    assert made.status_code == 201, made.get_json()
    return made, f"/api/v1/{resource}/{made.get_json()['id']}"


@pytest.mark.parametrize("resource", list(MINIMAL))
def test_a_write_based_on_an_older_version_is_refused_and_changes_nothing(api, resource):
    made, path = _made(api, resource)
    assert made.headers["ETag"] == '"1"'
    read = api.get(path)
    assert read.headers["ETag"] == '"1"'

    changed = api.patch(path, json=CHANGE[resource], headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.get_json()
    assert changed.headers["ETag"] == '"2"' == api.get(path).headers["ETag"]
    kept = api.get(path).get_json()

    # Another integration still holding version 1: refused, and told the current ETag.
    stale = api.patch(path, json=MINIMAL[resource] if resource != "activities" else {"note": "Old"},
                      headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert error_of(stale)["code"] == "precondition_failed"
    assert stale.headers["ETag"] == '"2"'
    assert api.delete(path, headers={"If-Match": '"1"'}).status_code == 412
    assert api.get(path).get_json() == kept

    # Any of a list matches; a delete with the current ETag goes through.
    again = api.patch(path, json={}, headers={"If-Match": '"7", "2"'})
    assert again.status_code == 200
    assert api.delete(path, headers={"If-Match": again.headers["ETag"]}).status_code == 204
    assert api.get(path).status_code == 404


def test_star_and_no_if_match_are_not_checked_and_a_weak_tag_never_matches(api):
    _made_response, path = _made(api, "contacts")
    assert api.patch(path, json={"notes": "a"}).status_code == 200
    assert api.patch(path, json={"notes": "b"}, headers={"If-Match": "*"}).status_code == 200
    assert api.patch(path, json={"notes": "c"}, headers={"If-Match": 'W/"3"'}).status_code == 412
    assert api.delete(path, headers={"If-Match": '"3"'}).status_code == 204
    assert api.get(path).status_code == 404


@pytest.mark.parametrize("value", ["3", '"3', "abc", '"3";"4"', '"a b"'])
def test_a_malformed_if_match_is_a_400_and_changes_nothing(api, value):
    _made_response, path = _made(api, "contacts")
    before = api.get(path).get_json()
    refused = api.patch(path, json={"notes": "x"}, headers={"If-Match": value})
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "invalid_if_match"
    assert api.get(path).get_json() == before


def test_the_openapi_document_names_the_etag_and_if_match(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    for resource, key in (("companies", "company_id"), ("contacts", "contact_id"), ("deals", "deal_id"),
                          ("activities", "activity_id")):
        item = spec["paths"][f"/api/v1/{resource}/{{{key}}}"]
        assert "ETag" in item["get"]["responses"]["200"]["headers"]
        assert "ETag" in spec["paths"][f"/api/v1/{resource}"]["post"]["responses"]["201"]["headers"]
        for method in ("patch", "delete"):
            assert "If-Match" in [p["name"] for p in item[method]["parameters"]]
            assert "412" in item[method]["responses"]


@pytest.mark.parametrize(("if_match", "status", "code"), [(None, 409, "edit_conflict"),
                                                         ('"1"', 412, "precondition_failed")])
def test_a_write_that_loses_the_race_after_its_check_is_refused(api, monkeypatch, if_match, status, code):
    """Another write commits between this one's check and its UPDATE: the versioned UPDATE
    matches no row, nothing is written, and the answer says to send it again."""
    import uuid

    import sqlalchemy as sa

    from tenantry.platform.db import db
    from tenantry.tenants.api import contacts as api_contacts
    from tenantry.tenants.crm.models import Contact

    _made_response, path = _made(api, "contacts")
    before = api.get(path).get_json()
    real_validate = api_contacts._validate

    def another_write_lands(given, current):
        data = real_validate(given, current)
        table = Contact.__table__
        db.session.execute(sa.update(table).where(table.c.id == uuid.UUID(before["id"])).values(version=table.c.version + 1))
        return data

    monkeypatch.setattr(api_contacts, "_validate", another_write_lands)
    refused = api.patch(path, json={"notes": "mine"}, headers={"If-Match": if_match} if if_match else {})
    assert refused.status_code == status
    assert error_of(refused)["code"] == code
    monkeypatch.setattr(api_contacts, "_validate", real_validate)
    assert api.get(path).get_json() == before
