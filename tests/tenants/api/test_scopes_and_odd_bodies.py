"""What a client's scopes let it see, and bodies no parser should choke on: a write-only
client changes records without reading them, and text that is no text is a 400, not a 500."""

from __future__ import annotations

import base64

import pytest

from tests.tenants.api.conftest import Bearer, error_of, new_client, request_token, token_for


@pytest.fixture
def writer(http, api_app, acme) -> Bearer:
    return Bearer(http, token_for(http, new_client(api_app, acme, "crm:write")))


def _made(api, path: str, body: dict) -> str:
    created = api.post(path, json=body)
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


@pytest.mark.obligation("DPA-B.access-control")
def test_a_write_only_client_cannot_read_a_record_through_a_write(api, writer):
    contact_id = _made(api, "/api/v1/contacts", {"first_name": "Jana", "email": "jana@example.com",
                                                 "notes": "private"})
    other_id = _made(api, "/api/v1/contacts", {"first_name": "Jana", "last_name": "Dup"})
    company_id = _made(api, "/api/v1/companies", {"name": "Acme"})
    deal_id = _made(api, "/api/v1/deals", {"title": "Renewal", "value": 1, "currency": "EUR"})
    activity_id = _made(api, "/api/v1/activities", {"kind": "call", "deal_id": deal_id})
    for path in (f"/api/v1/contacts/{contact_id}", f"/api/v1/companies/{company_id}",
                 f"/api/v1/deals/{deal_id}", f"/api/v1/activities/{activity_id}"):
        refused = writer.patch(path, json={})
        assert refused.status_code == 403, path
        assert error_of(refused) == {"code": "insufficient_scope", "message": "This needs the scopes crm:read "
                                     "crm:write.", "fields": {}}
    merged = writer.post(f"/api/v1/contacts/{contact_id}/merge", json={"other_id": other_id})
    assert merged.status_code == 403
    # Asking to refuse a duplicate would name who holds the e-mail: a reader's question.
    lookup = writer.post("/api/v1/contacts?on_duplicate=refuse", json={"first_name": "X",
                                                                       "email": "jana@example.com"})
    assert lookup.status_code == 403 and "crm:read as well" in error_of(lookup)["message"]
    assert "private" not in (lookup.get_data(as_text=True) + merged.get_data(as_text=True))
    # What it sends it may still create, and it gets back only what it sent.
    assert writer.post("/api/v1/contacts", json={"first_name": "New"}).status_code == 201
    assert api.get(f"/api/v1/contacts/{contact_id}").get_json()["notes"] == "private"


@pytest.mark.parametrize("raw", [b'{"first_name": "\\ud800"}', b'{"first_name": "Jana", "tags": ["\\udfff"]}',
                                 b'{"first_name": "Jana", "custom_fields": {"\\ud83d": "x"}}'])
def test_a_lone_surrogate_is_a_400_and_nothing_is_saved(api, raw):
    answer = api.post("/api/v1/contacts", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and error_of(answer)["code"] == "invalid_json"
    assert api.get("/api/v1/contacts").get_json()["items"] == []
    # A pair, escaped, is one character and fine.
    fine = api.post("/api/v1/contacts", data=b'{"first_name": "Jana \\ud83d\\ude00"}',
                    headers={"Content-Type": "application/json"})
    assert fine.status_code == 201 and fine.get_json()["first_name"] == "Jana \U0001f600"


def test_client_credentials_that_are_not_utf8_are_refused_as_a_client_error(http):
    raw = base64.b64encode(b"\xff\xfe:\xff").decode()
    answer = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {raw}"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


def test_a_scope_asked_twice_is_granted_once(http, api_app, acme):
    answer = request_token(http, new_client(api_app, acme), scope="crm:read crm:read")
    assert answer.status_code == 200 and answer.get_json()["scope"] == "crm:read"
