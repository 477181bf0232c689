"""A contact's custom fields on the API: GET /api/v1/custom-fields lists the workspace's
definitions, and /api/v1/contacts reads (`?include=custom_fields`), writes (`custom_fields`
in the body) and filters by (`?custom_fields[<key>]=<value>`, through the values' blind
indexes; `?custom_fields_missing=<keys>`) the values, validated as the contact form
validates them (crm/custom_fields.py).

Values are opt-in on reads: a contact's own columns come from one statement, and most
integrations never ask for more (bench/crm.py measures the paths without them). A value is
text as stored: a number as a plain decimal, a date as YYYY-MM-DD, a choice as its option.
Definitions describe the tenant's data model, not people: listing them is no read event."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, jsonify, request

from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import custom_fields as crm_fields
from tenantry.tenants.crm.models import Contact

from . import openapi, token_cache
from .common import iso
from .core import bp, require_scope, validation_error
from .errors import ApiError

INCLUDE = "custom_fields"
INCLUDE_PARAMETER = {"name": "include", "in": "query", "schema": {"enum": [INCLUDE]},
                     "description": "custom_fields: each contact with its custom_fields, every field of the "
                                    "workspace that takes values by key (null where it has no value)"}
NOT_TAKING = ("This special-category field takes no values while the workspace has no explicit agreement "
              "for special categories recorded by the operator (GDPR art. 9).")


def to_json(definition: crm_fields.CustomField, taking: bool) -> dict:
    return {"id": str(definition.id), "key": definition.key, "label": definition.label, "type": definition.type,
            "options": list(definition.options or []) if definition.type == "choice" else [],
            "required": definition.required, "special_category": definition.special_category,
            "takes_values": taking, "position": definition.position + 1,
            "created_at": iso(definition.created_at), "updated_at": iso(definition.updated_at)}


@bp.get("/custom-fields")
@require_scope("crm:read")
def custom_field_list():
    definitions, taking = workspace_fields()
    return jsonify({"items": [to_json(d, d.id in taking) for d in definitions], "next_cursor": None})


@dataclass(frozen=True)
class _Remembered:
    generation: bytes
    until: float
    definitions: tuple
    taking: frozenset


_REMEMBERED = "tenantry.api_custom_fields"


def workspace_fields() -> tuple[list[crm_fields.CustomField], set[uuid.UUID]]:
    """The workspace's custom fields, in order, and the ids of those taking values now. Every
    contact write asks (a new contact needs the required ones), so with Redis each worker
    remembers them under the grant generation (token_cache), which a change of a definition or
    of a special-category agreement renews: an API create then reads neither table (bench/crm.py)."""
    generation = token_cache.generation_before_lookup()
    remembered = current_app.extensions.setdefault(_REMEMBERED, {})
    got = remembered.get(current_tenant.id)
    if got is not None and got.generation == generation and got.until > time.monotonic():
        return list(got.definitions), set(got.taking)
    found = crm_fields.definitions()
    taking = {d.id for d in crm_fields.usable(found)}
    copies = tuple(token_cache.detached_copy(d) for d in found)
    if generation is not None and None not in copies:
        remembered[current_tenant.id] = _Remembered(generation, time.monotonic() + token_cache.SECONDS, copies,
                                                    frozenset(taking))
    return found, taking


def included() -> bool:
    """Whether the request asks for the contacts' custom values; 400 on anything else in include."""
    names = {name.strip() for name in request.args.get("include", "").split(",") if name.strip()}
    if names - {INCLUDE}:
        raise ApiError(400, "invalid_parameter", f"include takes {INCLUDE} only.",
                       {"include": f"Give {INCLUDE}, or leave it out."})
    return INCLUDE in names


_FILTER = re.compile(r"custom_fields\[(.*)\]")
FILTER_PARAMETER = {
    "name": "custom_fields", "in": "query", "style": "deepObject", "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    "description": "custom_fields[<key>]=<value>: only contacts whose field holds the value, whole, ignoring case "
                   "and accents, read as the contact form reads it (3,5 is the number 3.5); several are all met. "
                   "A field that takes no values (GET /api/v1/custom-fields) cannot filter"}


MISSING = "custom_fields_missing"
MISSING_PARAMETER = {
    "name": MISSING, "in": "query", "schema": {"type": "string"},
    "description": "Keys of custom fields, comma-separated: only contacts with no value in any of them"}


def filters() -> list:
    """The conditions of the list's custom_fields[<key>]=<value> and custom_fields_missing=<keys>
    filters; 422 naming each bad one."""
    conditions, errors = [], {}
    asked = [(name, found.group(1), request.args.get(name, ""), False)
             for name, found in ((name, _FILTER.fullmatch(name)) for name in request.args) if found]
    asked += [(MISSING, key.strip(), "", True) for key in request.args.get(MISSING, "").split(",") if key.strip()]
    for name, key, raw, unset in asked:
        definitions, taking = workspace_fields()
        wanted = crm_fields.value_filter(key, raw, [d for d in definitions if d.id in taking], unset=unset)
        if wanted.error:
            special = any(d.key == key and d.special_category for d in definitions)
            message = NOT_TAKING if wanted.definition is None and special else wanted.error
            errors.setdefault(name, []).append(f"{key}: {message}" if unset else message)
        elif wanted.condition is not None:
            conditions.append(wanted.condition)
    if errors:
        raise validation_error(errors)
    return conditions


@dataclass
class Shown:
    """Contacts' custom values by contact id, and what a read of them must say in its event."""

    values: dict[str, dict[str, str | None]]
    special_category: bool

    def details(self) -> dict:
        return {"custom_fields": True, **({"special_category": True} if self.special_category else {})}


def shown(contact_ids: list) -> Shown:
    """Every definition's value (None when empty) for each contact, in the definitions' order;
    without the fields that take no values now (a special category's, withheld while no
    agreement is in force: crm custom_fields.withheld)."""
    definitions, taking = workspace_fields()
    definitions = [d for d in definitions if d.id in taking]
    found = crm_fields.values_of_many([uuid.UUID(str(i)) for i in contact_ids]) if definitions else {}
    special = {d.id for d in definitions if d.special_category}
    values = {str(i): {d.key: found.get(uuid.UUID(str(i)), {}).get(d.id) or None for d in definitions}
              for i in contact_ids}
    return Shown(values, any(fid in special for per in found.values() for fid, v in per.items() if v))


@dataclass
class Sent:
    """The values a body sets, by definition id ("" removes one), and those definitions."""

    values: dict[uuid.UUID, str] = field(default_factory=dict)
    only: list[crm_fields.CustomField] = field(default_factory=list)

    def changes(self, contact: Contact) -> bool:
        if not self.values:
            return False
        held = crm_fields.values_of(contact.id)
        return any(held.get(field_id, "") != value for field_id, value in self.values.items())

    def save(self, contact: Contact) -> None:
        if self.only:
            crm_fields.save(contact, self.values, only=self.only, actor=g.api_client)


def parse(given: dict[str, Any] | None, *, creating: bool) -> tuple[Sent, dict[str, str]]:
    """The body's `custom_fields` checked against the workspace's definitions: what to save, and
    the errors by API field name (custom_fields.<key>). A new contact needs every required field
    that takes values, as on the form; a change sets only the keys it names."""
    definitions, taking = workspace_fields()
    by_key = {d.key: d for d in definitions}
    sent, errors = Sent(), {}
    for key, raw in (given or {}).items():
        name, definition = f"custom_fields.{key}", by_key.get(key)
        if definition is None:
            errors[name] = "No custom field has this key (GET /api/v1/custom-fields lists them)."
        elif definition.id not in taking:
            errors[name] = NOT_TAKING
        elif not _of_type(definition, raw):
            errors[name] = "Expected a number, a string or null." if definition.type == "number" else \
                "Expected a string or null."
        else:
            try:
                sent.values[definition.id] = crm_fields.normalise(definition, _text(raw))
            except ValueError as exc:
                errors[name] = str(exc)
            sent.only.append(definition)
    if creating:
        for definition in definitions:
            if definition.required and definition.id in taking and definition.key not in (given or {}):
                errors[f"custom_fields.{definition.key}"] = f"{definition.label} is required."
    return sent, errors


def _of_type(definition: crm_fields.CustomField, raw: Any) -> bool:
    if raw is None or isinstance(raw, str):
        return True
    return definition.type == "number" and isinstance(raw, int | float) and not isinstance(raw, bool)


def _text(raw: Any) -> str:
    # A JSON number as the text typed for it; repr keeps every digit a float has.
    return "" if raw is None else raw if isinstance(raw, str) else repr(raw)


openapi.add_schemas({
    "CustomField": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"},
        "key": {"type": "string", "description": "The name of the field in a contact's custom_fields"},
        "label": {"type": "string"}, "type": {"enum": list(crm_fields.TYPES)},
        "options": {"type": "array", "items": {"type": "string"}, "description": "A choice field's options"},
        "required": {"type": "boolean", "description": "A new contact must have a value"},
        "special_category": {"type": "boolean", "description": "A special category of personal data (GDPR art. 9)"},
        "takes_values": {"type": "boolean", "description": "False for a special-category field while the workspace "
                                                           "has no explicit agreement for them: its values are "
                                                           "kept but withheld (left out of custom_fields), and "
                                                           "none can be set"},
        "position": {"type": "integer", "description": "The field's place on the contact form, from 1"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}},
    "CustomFieldPage": openapi.page_schema("CustomField"),
    "CustomValues": {
        "type": "object", "additionalProperties": {"type": ["string", "null"]},
        "description": "By field key, every field of the workspace that takes values (takes_values): a "
                       "number as a plain decimal, a date as YYYY-MM-DD, a choice as its option; null where the "
                       "contact has no value"},
    "CustomValuesInput": {
        "type": "object", "additionalProperties": {"type": ["string", "number", "null"]},
        "description": "By field key, the values to set (null or \"\" removes one); keys left out keep their "
                       "values. Validated as on the contact form; errors are under custom_fields.<key>"},
})
openapi.add_paths({"/api/v1/custom-fields": {"get": openapi.operation(
    "List the workspace's custom fields of contacts, in the form's order (all of them: next_cursor is null)",
    scope="crm:read", errors=(),
    responses={"200": {"description": "The fields", "content": {"application/json": {
        "schema": openapi.ref("CustomFieldPage")}}}})}})
