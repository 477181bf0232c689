"""The OpenAPI document matches the routes: every /api/v1 and /oauth rule and method is
documented, nothing documented is missing, and the document is valid OpenAPI 3.1."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_nothing_else(http, api_app):
    document = http.get("/api/v1/openapi.json").get_json()
    routed = set()
    for rule in api_app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/oauth")):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routed.add((_openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations
                  if method in {"get", "post", "put", "patch", "delete"}}
    assert routed - documented == set(), "routes missing from openapi.json"
    assert documented - routed == set(), "documented operations without a route"
    assert ("/oauth/token", "post") in routed


def test_the_document_is_valid_openapi_3_1_with_client_credentials(http):
    document = http.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    assert set(flow["scopes"]) == {"crm:read", "crm:write", "export", "audit:read"}


def test_each_objects_schema_names_exactly_the_fields_it_is_answered_with(http, api):
    schemas = http.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    company = api.post("/api/v1/companies", json={"name": "Acme s.r.o."}).get_json()
    contact = api.post("/api/v1/contacts", json={"first_name": "Jana", "company_id": company["id"]}).get_json()
    deal = api.post("/api/v1/deals", json={"title": "Renewal", "value": 10, "currency": "EUR",
                                           "contact_id": contact["id"]}).get_json()
    activity = api.post("/api/v1/activities", json={"kind": "call", "deal_id": deal["id"]}).get_json()
    for name, path in (("Company", f"/api/v1/companies/{company['id']}"),
                       ("Contact", f"/api/v1/contacts/{contact['id']}"),
                       ("Deal", f"/api/v1/deals/{deal['id']}"), ("Activity", f"/api/v1/activities/{activity['id']}")):
        answered = set(api.get(path).get_json())
        documented = set(schemas[name]["properties"]) - {"custom_fields"}  # only with include=custom_fields
        assert answered == documented, (name, answered ^ documented)
