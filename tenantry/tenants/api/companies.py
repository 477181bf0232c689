"""/api/v1/companies: the CRM's companies, validated by the UI's CompanyForm."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g, jsonify

from tenantry.platform.db import db
from tenantry.platform.tenancy import current_tenant
from tenantry.tenants.crm import companies as service
from tenantry.tenants.crm import company_merge, forms, search
from tenantry.tenants.crm.models import COMPANY, Company

from . import duplicate_check, merging, openapi
from .common import (
    CHANGED_AT,
    CHANGED_SINCE_PARAMETER,
    answered,
    changed_since,
    commit_read,
    iso,
    or_null,
    query_arg,
    record_read,
    run_form,
    text,
    unchanged,
)
from .core import bp, json_body, require_scope
from .errors import ApiError
from .pagination import paginate
from .preconditions import check, tagged

TEXT = ("name", "company_number", "vat_id", "address", "iban", "website", "notes")
FIELDS = {name: (str, None) for name in (*TEXT, "country")}


def to_json(company: Company, plain: dict | None = None) -> dict:
    plain = plain if plain is not None else company.plain()
    return {"id": str(company.id), "country": company.country, **{name: or_null(plain[name]) for name in TEXT},
            "created_at": iso(company.created_at), "updated_at": iso(company.updated_at),
            "changed_at": iso(company.changed_at)}


def _validate(given: dict, current: dict) -> service.CompanyData:
    values = {name: text(given[name]) if name in given else current[name] for name in (*TEXT, "country")}
    # The form treats an empty country as "the workspace's own", as the page does.
    return run_form(forms.CompanyForm, values).data_for_service()


@bp.get("/companies")
@require_scope("crm:read")
def company_list():
    q = query_arg()
    stmt = sa.select(Company).where(*changed_since(Company.changed_at))
    if q:
        stmt = stmt.where(Company.id.in_(search.matching(COMPANY, q)))
    rows, cursor = paginate(stmt, keys=(Company.created_at, Company.id), name="companies")
    items = [to_json(c, plain) for c, plain in zip(rows, Company.plain_all(rows), strict=True)]
    record_read("company", [c.id for c in rows], listed=True)
    commit_read()
    return jsonify({"items": items, "next_cursor": cursor})


@bp.post("/companies")
@require_scope("crm:write")
def company_create():
    data = _validate(json_body(FIELDS), {**dict.fromkeys(TEXT, ""), "country": current_tenant.country})
    duplicate_check.refuse_if_held(data)
    company = service.create(data, actor=g.api_client)
    answer = tagged(to_json(company), company.version, 201)
    db.session.commit()
    return answer


@bp.get("/companies/<uuid:company_id>")
@require_scope("crm:read")
def company_get(company_id):
    company = service.get(company_id) or abort(404)
    body = to_json(company)
    return answered("company", company.id, body, company.version)


@bp.patch("/companies/<uuid:company_id>")
@require_scope("crm:read", "crm:write")  # the answer shows the whole record
def company_update(company_id):
    company = service.get(company_id) or abort(404)
    check(company)
    current = {**company.plain(), "country": company.country}
    data = _validate(json_body(FIELDS), current)
    if unchanged(data, lambda: _validate({}, current)):  # answered, not written: a read (contacts.py)
        return answered("company", company.id, to_json(company), company.version)
    service.update(company, data, actor=g.api_client)
    answer = tagged(to_json(company), company.version)
    db.session.commit()
    return answer


@bp.post("/companies/<uuid:company_id>/merge")
@require_scope("crm:read", "crm:write")  # the answer shows both records merged
def company_merge_into(company_id):
    keep = service.get(company_id) or abort(404)
    other, other_etag = merging.the_other(keep.id, service.get, "company", "companies")
    return merging.merged(keep, other, other_etag, company_merge.merge, to_json)


@bp.delete("/companies/<uuid:company_id>")
@require_scope("crm:write")
def company_delete(company_id):
    company = service.get(company_id) or abort(404)
    check(company)
    try:
        service.delete(company, actor=g.api_client)
    except service.HoldsRestricted as exc:
        db.session.rollback()
        raise ApiError(409, "restricted", str(exc)) from exc
    db.session.commit()
    return "", 204


_string = {"type": ["string", "null"]}
_input = {
    "name": {**_string, "maxLength": 300}, "country": {**_string, "description": "ISO 3166 alpha-2; default: the workspace's"},
    "company_number": {**_string, "maxLength": 40, "description": "Company ID; checked as an IČO for CZ"},
    "vat_id": {**_string, "maxLength": 40}, "address": {**_string, "maxLength": 1000},
    "iban": {**_string, "maxLength": 50}, "website": {**_string, "maxLength": 300}, "notes": {**_string, "maxLength": 10000},
}
openapi.add_schemas({
    "CompanyInput": {"type": "object", "additionalProperties": False, "properties": _input,
                     "description": "name is required on create."},
    "Company": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, **_input,
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "changed_at": {"type": "string", "format": "date-time", "readOnly": True, "description": CHANGED_AT}}},
    "CompanyPage": openapi.page_schema("Company"),
})
_one = [openapi.id_parameter("company_id")]
_item = {"application/json": {"schema": openapi.ref("Company")}}
openapi.add_paths({
    "/api/v1/companies": {
        "get": openapi.operation(
            "List companies (oldest first), optionally searched", scope="crm:read", errors=(400, 422),
            parameters=[*openapi.LIST_PARAMETERS, CHANGED_SINCE_PARAMETER, openapi.SEARCH_PARAMETER],
            responses={"200": {"description": "A page", "content": {"application/json": {
                "schema": openapi.ref("CompanyPage")}}}}),
        "post": openapi.operation("Create a company", scope="crm:write", body="CompanyInput",
                                  errors=(400, 409, 415, 422), parameters=[duplicate_check.PARAMETER],
                                  responses={"201": {"description": "Created", "content": _item}}),
    },
    "/api/v1/companies/{company_id}": {
        "get": openapi.operation("Get a company", scope="crm:read", parameters=_one, errors=(404,),
                                 responses={"200": {"description": "The company", "content": _item}}),
        "patch": openapi.operation("Change some fields of a company", scope="crm:read crm:write", parameters=_one,
                                   body="CompanyInput", errors=(400, 404, 415, 422),
                                   responses={"200": {"description": "The company", "content": _item}}),
        "delete": openapi.operation("Delete a company (its contacts and deals stay, without it; refused with 409 "
                                    "while one of its contacts is restricted)", scope="crm:write",
                                    parameters=_one, errors=(404, 409), responses={"204": {"description": "Deleted"}}),
    },
    "/api/v1/companies/{company_id}/merge": {"post": merging.operation(
        "Merge another company into this one: it takes every value this one lacks and both notes; the other's "
        "contacts, deals and activities move over and the other is deleted", "Company", "company_id")},
})

openapi.versioned("/api/v1/companies", "/api/v1/companies/{company_id}")
