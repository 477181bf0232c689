"""The OpenAPI 3.1 document at /api/v1/openapi.json, assembled from what each module registers.

Every module that adds routes under /api/v1 (or /oauth) describes them here with
`add_paths({"/api/v1/things": {"get": {...}}})` and its schemas with `add_schemas({...})`;
a test compares the document with the app's URL map both ways.
"""

from __future__ import annotations

import copy
from typing import Any

from .models import SCOPES

_paths: dict[str, dict[str, Any]] = {}
_schemas: dict[str, Any] = {}

SCOPE_HELP = {
    "crm:read": "Read companies, contacts, deals and activities",
    "crm:write": "Create, change and delete them",
    "export": "Export the workspace's data",
    "audit:read": "Read the workspace's audit trail",
}


def add_paths(paths: dict[str, dict[str, Any]]) -> None:
    """Merge operations by path and method; registering the same operation again replaces it."""
    for path, operations in paths.items():
        _paths.setdefault(path, {}).update(copy.deepcopy(operations))


def add_schemas(schemas: dict[str, Any]) -> None:
    _schemas.update(copy.deepcopy(schemas))


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def error_responses(*statuses: int) -> dict[str, Any]:
    text = {400: "Malformed request (bad JSON, unknown field, wrong type, bad limit or cursor)",
            401: "Missing, invalid, expired or revoked access token",
            403: "The token lacks the scope", 404: "No such object in this workspace",
            409: "The object is restricted, another write changed it meanwhile (edit_conflict: send it "
                 "again), or with on_duplicate=refuse the object is held already (duplicate: see "
                 "error.duplicates)",
            412: "If-Match names an older version of the object: read it again",
            415: "The body is not application/json",
            423: "The workspace is cancelled and read-only until its deletion (read_only)",
            422: "A value is not valid (see error.fields)", 429: "Rate limit reached (see Retry-After)"}
    return {str(s): {"description": text[s], "content": {"application/json": {"schema": ref("Error")}}}
            for s in statuses}


IF_MATCH = {"name": "If-Match", "in": "header", "schema": {"type": "string"},
            "description": 'The ETag of the object as read (such as "3"): the write is refused with 412 if the '
                           "object was changed since. Without it the write is not checked"}
ETAG_HEADER = {"ETag": {"description": "The object's version; send it as If-Match to change or delete it only "
                                        "if nobody changed it since", "schema": {"type": "string"}}}


def versioned(collection: str, item: str) -> None:
    """The ETag on a CRM object's answers and If-Match on its writes (preconditions.py), for the
    paths add_paths registered."""
    for operation_ in (_paths[collection].get("post"), *(_paths[item].get(m) for m in ("get", "patch"))):
        if operation_ is not None:
            for status in ("200", "201"):
                if status in operation_["responses"]:
                    operation_["responses"][status]["headers"] = copy.deepcopy(ETAG_HEADER)
    for method in ("patch", "delete"):
        operation_ = _paths[item].get(method)
        if operation_ is not None:
            operation_["parameters"] = [*operation_.get("parameters", []), copy.deepcopy(IF_MATCH)]
            operation_["responses"].update(error_responses(400, 409, 412))


def operation(summary: str, *, scope: str | None, responses: dict[str, Any], body: str | None = None,
              parameters: list | None = None, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    """One operation, with the bearer security, the common errors and an optional JSON body."""
    op: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if scope is not None:
        op["security"] = [{"oauth2": scope.split()}]  # every scope named is needed
        errors = (401, 403, 429, *errors)
        if "crm:write" in scope.split():  # every write passes the read-only gate first
            errors = (423, *errors)
    op["responses"].update(error_responses(*sorted(set(errors))))
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return op


def id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


LIST_PARAMETERS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"},
     "description": "next_cursor of the previous page, unchanged"},
]
SEARCH_PARAMETER = {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
                    "description": "Exact e-mail, phone or company ID, or whole words of a name (as in the UI)"}


OWNER_PARAMETER = {"name": "owner_id", "in": "query",
                   "schema": {"anyOf": [{"type": "string", "format": "uuid"}, {"const": "none"}]},
                   "description": "Only those assigned to this member, or with none to no one"}


def page_schema(item: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": ref(item)},
        "next_cursor": {"type": ["string", "null"]}}}


add_schemas({
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "fields"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "duplicates": {"type": "array", "description": "With the code duplicate: the objects held already",
                           "items": {"type": "object", "required": ["id", "matched_by"], "properties": {
                               "id": {"type": "string", "format": "uuid"},
                               "matched_by": {"type": "array", "items": {
                                   "enum": ["email", "phone", "company_id"]}}}}}}}}},
    "Token": {"type": "object", "required": ["access_token", "token_type", "expires_in"], "properties": {
        "access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"}, "scope": {"type": "string"}}},
    "OAuthError": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "error_description": {"type": "string"}}},
})

add_paths({
    "/oauth/token": {"post": {
        "summary": "Issue an access token (client credentials, client authentication by HTTP Basic)",
        "security": [{"clientBasic": []}],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"], "properties": {
                "grant_type": {"const": "client_credentials"},
                "scope": {"type": "string", "description": "Space-separated; default: all of the client's"}}}}}},
        "responses": {
            "200": {"description": "A bearer token", "content": {"application/json": {"schema": ref("Token")}}},
            **{s: {"description": d, "content": {"application/json": {"schema": ref("OAuthError")}}}
               for s, d in (("400", "Bad grant type or scope"), ("401", "Client authentication failed"),
                            ("429", "Too many token requests"))}}}},
    "/api/v1/openapi.json": {"get": {
        "summary": "This document", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
})


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tenantry API", "version": "1",
                 "description": "A workspace's CRM for integrations. A token acts for its client's workspace only; "
                                "errors are {\"error\": {\"code\", \"message\", \"fields\"}} with a 4xx status."},
        "servers": [{"url": "/"}],
        "paths": copy.deepcopy(dict(sorted(_paths.items()))),
        "components": {
            "schemas": copy.deepcopy(_schemas),
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/oauth/token", "scopes": {s: SCOPE_HELP[s] for s in SCOPES}}}},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
    }
