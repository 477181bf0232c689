"""/api/v1/contacts: the CRM's contacts, validated by the UI's ContactForm."""

from __future__ import annotations

import re

from flask import abort, g, jsonify, request

from tenantry.platform.crypto import fields
from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import contact_reads, duplicates, forms
from tenantry.tenants.crm import contacts as service
from tenantry.tenants.crm.models import Contact

from . import custom_fields, duplicate_check, merging, openapi
from .common import (
    CHANGED_AT,
    CHANGED_SINCE_PARAMETER,
    answered,
    changed_since,
    commit_read,
    ident,
    iso,
    parse_uuid,
    query_arg,
    record_read,
    run_form,
    text,
    unchanged,
)
from .core import bp, json_body, require_scope, validation_error
from .errors import ApiError
from .pagination import paginate_rows
from .preconditions import check, tagged

S, L, N = str, list, None
FIELDS = {"first_name": (S, N), "last_name": (S, N), "email": (S, N), "emails": (L, N), "phone": (S, N),
          "phones": (L, N), "address": (S, N), "company_id": (S, N), "position": (S, N), "notes": (S, N),
          "tags": (L, N), "custom_fields": dict}


def to_json(contact: Contact, plain: dict | None = None) -> dict:
    company_id = contact.company_id
    return _body(str(contact.id), str(company_id) if company_id is not None else None, contact.created_at,
                 contact.updated_at, contact.changed_at, contact.plain() if plain is None else plain)


def _row_json(row: tuple, reader: fields.Reader) -> dict:
    """to_json of a contact_reads row."""
    return _body(row[0], row[1], row[2], row[3], row[6],
                 Contact.plain_of(reader, row[0], row[contact_reads.SEALED_FROM:]))


def _body(contact_id: str, company_id: str | None, created_at, updated_at, changed_at, plain: dict) -> dict:
    emails, phones = plain["emails"], plain["phones"]
    return {
        "id": contact_id, "first_name": plain["first_name"] or None, "last_name": plain["last_name"] or None,
        "email": emails[0] if emails else None, "emails": emails,
        "phone": phones[0] if phones else None, "phones": phones,
        "address": plain["address"] or None, "company_id": company_id,
        "position": plain["position"] or None, "notes": plain["notes"] or None, "tags": plain["tags"],
        "created_at": iso(created_at), "updated_at": iso(updated_at), "changed_at": iso(changed_at),
    }


def _primary_first(given: dict, current: list[str], single: str, many: str) -> list[str]:
    """`email` is the first of `emails` (likewise phones): setting it puts it first, null drops it."""
    values = list(given[many]) if given.get(many) is not None else ([] if many in given else list(current))
    if single in given:
        rest = values if many in given else values[1:]
        values = ([given[single]] if given[single] else []) + [v for v in rest if v != given[single]]
    return values


def _validate(given: dict, current: dict) -> service.ContactData:
    if any("," in tag for tag in given.get("tags") or []):
        # The form reads tags comma-separated: "a,b" would silently become two tags.
        raise validation_error({"tags": "A tag cannot contain a comma."})
    for single, many, what in (("email", "emails", "e-mail address"), ("phone", "phones", "phone number")):
        # The form reads one value a line, commas and semicolons splitting too: one JSON item
        # holding two would silently become two.
        for name in (single, many):
            value = given.get(name)
            if any(isinstance(item, str) and _SEPARATOR.search(item)
                   for item in (value if isinstance(value, list) else [value])):
                raise validation_error({name: f"One {what} an item: no commas, semicolons or line breaks."})
    emails = _primary_first(given, current["emails"], "email", "emails")
    phones = _primary_first(given, current["phones"], "phone", "phones")
    values = {name: text(given[name]) if name in given else current[name]
              for name in ("first_name", "last_name", "address", "position", "notes")}
    company = text(given["company_id"]) if "company_id" in given else current["company_id"]
    values.update(emails="\n".join(emails), phones="\n".join(phones), company=company,
                  tags=", ".join(given["tags"] if given.get("tags") is not None else
                                 ([] if "tags" in given else current["tags"])))
    renames = {"company": "company_id",
               "emails": "email" if "email" in given and "emails" not in given else "emails",
               "phones": "phone" if "phone" in given and "phones" not in given else "phones"}
    form = run_form(forms.ContactForm, values, renames, company_choices=[(company, company)] if company else [])
    return form.data_for_service()


def _checked(given: dict, current: dict, *, creating: bool) -> tuple[service.ContactData, custom_fields.Sent]:
    """The contact's own values and its custom ones, every error of both in one 422."""
    sent, wrong = custom_fields.parse(given.get("custom_fields"), creating=creating)
    try:
        data = _validate(given, current)
    except ApiError as exc:
        if wrong and exc.status == 422:
            exc.fields = {**(exc.fields or {}), **wrong}
        raise
    if wrong:
        raise validation_error(wrong)
    return data, sent


def _answer(contact: Contact, include: bool) -> dict:
    body = to_json(contact)
    if include:
        body["custom_fields"] = custom_fields.shown([contact.id]).values[str(contact.id)]
    return body


_SEPARATOR = re.compile(r"[,;\r\n]")
_EMPTY = {"first_name": "", "last_name": "", "emails": [], "phones": [], "address": "", "company_id": "",
          "position": "", "notes": "", "tags": []}


def _save(write, sent: custom_fields.Sent, include: bool, status: int = 200):
    try:
        contact = write()
    except service.UnknownCompany as exc:
        db.session.rollback()
        raise validation_error({"company_id": str(exc)}) from exc
    sent.save(contact)
    answer = tagged(_answer(contact, include), contact.version, status)
    db.session.commit()
    return answer


@bp.get("/contacts")
@require_scope("crm:read")
def contact_list():
    q = query_arg()
    include = custom_fields.included()
    # Never restricted contacts [DSR-restrict]; a list is bulk processing, so not those who
    # objected either [DSR-object] (one by id still answers). contact_reads adds both.
    conditions = changed_since(Contact.changed_at)
    company_id = request.args.get("company_id")
    if company_id:
        conditions.append(Contact.company_id == parse_uuid(company_id, "company_id", "companies"))
    tag = request.args.get("tag", "").strip()
    if len(tag) > service.MAX_TAG:
        raise ApiError(400, "invalid_tag", f"tag is at most {service.MAX_TAG} characters.", {"tag": "Too long."})
    if tag:
        conditions.append(service.tagged(tag))
    conditions.extend(custom_fields.filters())
    rows, cursor = paginate_rows(
        lambda after, limit: contact_reads.page(conditions, query=q, after=after, limit=limit),
        width=2, name="contacts", keyset=contact_reads.keyset)
    reader = fields.Reader(current_tenant.id)
    items = [_row_json(row, reader) for row in rows]
    ids = [row[0] for row in rows]
    details = None
    if include:
        custom = custom_fields.shown(ids)
        for item in items:
            item["custom_fields"] = custom.values[item["id"]]
        details = custom.details()
    record_read("contact", ids, listed=True, details=details)
    commit_read()
    return jsonify({"items": items, "next_cursor": cursor})


@bp.post("/contacts")
@require_scope("crm:write")
def contact_create():
    include = custom_fields.included()
    data, sent = _checked(json_body(FIELDS), _EMPTY, creating=True)
    duplicate_check.refuse_if_held(data)
    return _save(lambda: service.create(data, actor=g.api_client), sent, include, 201)


def _usable(contact_id) -> Contact:
    contact = service.get(contact_id) or abort(404)
    if contact.restricted_at is not None:
        raise ApiError(409, "restricted", service.RESTRICTED)
    return contact


@bp.get("/contacts/<uuid:contact_id>")
@require_scope("crm:read")
def contact_get(contact_id):
    include = custom_fields.included()
    row = contact_reads.one(contact_id) or abort(404)
    if row[4]:
        raise ApiError(409, "restricted", service.RESTRICTED)
    body = _row_json(row, fields.Reader(current_tenant.id))
    details = None
    if include:
        custom = custom_fields.shown([row[0]])
        body["custom_fields"], details = custom.values[row[0]], custom.details()
    return answered("contact", row[0], body, row[5], details=details)


@bp.patch("/contacts/<uuid:contact_id>")
@require_scope("crm:read", "crm:write")  # the answer shows the whole record
def contact_update(contact_id):
    include = custom_fields.included()
    contact = _usable(contact_id)
    check(contact)
    given = json_body(FIELDS)
    current = {**contact.plain(), "company_id": ident(contact.company_id) or ""}
    data, sent = _checked(given, current, creating=False)
    if unchanged(data, lambda: _validate({}, current)) and not sent.changes(contact):
        # Nothing written, but the record is answered: a read, audited as one.
        body, details = to_json(contact), None
        if include:
            custom = custom_fields.shown([contact.id])
            body["custom_fields"], details = custom.values[str(contact.id)], custom.details()
        return answered("contact", contact.id, body, contact.version, details=details)
    return _save(lambda: service.update(contact, data, actor=g.api_client), sent, include)


@bp.post("/contacts/<uuid:contact_id>/merge")
@require_scope("crm:read", "crm:write")  # the answer shows both records merged
def contact_merge_into(contact_id):
    include = custom_fields.included()
    keep = _usable(contact_id)
    other, other_etag = merging.the_other(keep.id, service.get, "contact", "contacts")
    if other.restricted_at is not None:
        raise ApiError(409, "restricted", service.RESTRICTED)
    return merging.merged(keep, other, other_etag, duplicates.merge, lambda kept: _answer(kept, include))


@bp.delete("/contacts/<uuid:contact_id>")
@require_scope("crm:write")
def contact_delete(contact_id):
    contact = _usable(contact_id)
    check(contact)
    service.delete(contact, actor=g.api_client)
    db.session.commit()
    return "", 204


_string = {"type": ["string", "null"]}
_strings = {"type": "array", "items": {"type": "string"}}
_input = {
    "first_name": {**_string, "maxLength": 200}, "last_name": {**_string, "maxLength": 200},
    "email": {**_string, "format": "email", "description": "The primary e-mail (first of emails)"},
    "emails": _strings, "phone": {**_string, "description": "The primary phone; stored as E.164"},
    "phones": _strings, "address": {**_string, "maxLength": 1000},
    "company_id": {"type": ["string", "null"], "format": "uuid"}, "position": {**_string, "maxLength": 200},
    "notes": {**_string, "maxLength": 10000}, "tags": _strings,
}
openapi.add_schemas({
    "ContactInput": {"type": "object", "additionalProperties": False,
                     "properties": {**_input, "custom_fields": openapi.ref("CustomValuesInput")},
                     "description": "A first name or a surname is required."},
    "Contact": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, **_input,
        "custom_fields": {**openapi.ref("CustomValues"), "description": "Only with include=custom_fields"},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "changed_at": {"type": "string", "format": "date-time", "readOnly": True, "description": CHANGED_AT}}},
    "ContactPage": openapi.page_schema("Contact"),
})
_include = custom_fields.INCLUDE_PARAMETER
_merge = merging.operation(
    "Merge another contact into this one: it takes every value this one lacks, all e-mails, phones and tags, "
    "both notes; the other's activities, deals and custom values move over and the other is deleted (409 "
    "while either is restricted or has an open data subject request)", "Contact", "contact_id")
_merge["parameters"].append(_include)
_one = [openapi.id_parameter("contact_id"), _include]
_company_filter = {"name": "company_id", "in": "query", "schema": {"type": "string", "format": "uuid"}}
_tag_filter = {"name": "tag", "in": "query", "schema": {"type": "string", "maxLength": service.MAX_TAG},
               "description": "Only contacts carrying this whole tag, ignoring case, accents and spacing"}
openapi.add_paths({
    "/api/v1/contacts": {
        "get": openapi.operation(
            "List contacts (oldest first), optionally searched; restricted contacts and those who objected "
            "are left out", scope="crm:read", errors=(400, 422),
            parameters=[*openapi.LIST_PARAMETERS, CHANGED_SINCE_PARAMETER, openapi.SEARCH_PARAMETER, _company_filter, _tag_filter,
                        custom_fields.FILTER_PARAMETER, custom_fields.MISSING_PARAMETER, _include],
            responses={"200": {"description": "A page", "content": {"application/json": {
                "schema": openapi.ref("ContactPage")}}}}),
        "post": openapi.operation(
            "Create a contact", scope="crm:write", body="ContactInput", errors=(400, 409, 415, 422),
            parameters=[duplicate_check.PARAMETER, _include],
            responses={"201": {"description": "Created", "content": {"application/json": {
                "schema": openapi.ref("Contact")}}}}),
    },
    "/api/v1/contacts/{contact_id}": {
        "get": openapi.operation("Get a contact (409 while restricted)", scope="crm:read", parameters=_one,
                                 errors=(404, 409),
                                 responses={"200": {"description": "The contact", "content": {
                                     "application/json": {"schema": openapi.ref("Contact")}}}}),
        "patch": openapi.operation("Change some fields of a contact", scope="crm:read crm:write", parameters=_one,
                                   body="ContactInput", errors=(400, 404, 409, 415, 422),
                                   responses={"200": {"description": "The contact", "content": {
                                       "application/json": {"schema": openapi.ref("Contact")}}}}),
        "delete": openapi.operation("Delete a contact (its activities go with it)", scope="crm:write",
                                    parameters=[openapi.id_parameter("contact_id")], errors=(404, 409),
                                    responses={"204": {"description": "Deleted"}}),
    },
    "/api/v1/contacts/{contact_id}/merge": {"post": _merge},
})

openapi.versioned("/api/v1/contacts", "/api/v1/contacts/{contact_id}")
