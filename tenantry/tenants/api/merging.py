"""What POST /api/v1/contacts/<id>/merge and /api/v1/companies/<id>/merge share: the UI's
merge (crm/duplicates.py, crm/company_merge.py) for integrations that deduplicate. The record
in the path is kept; the body names the other, which is folded into it and then deleted.

If-Match guards the kept record as on PATCH; `other_etag`, the ETag the other was read at,
guards that one (a request has only one If-Match). A write that loses the race to another is
refused by the blueprint's EditConflict handler, as everywhere."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable

from flask import g

from tenantry.platform.db import db
from tenantry.tenants.crm import duplicates

from . import openapi
from .common import parse_uuid
from .core import json_body, validation_error
from .errors import ApiError
from .preconditions import CHANGED, check, etag, tagged

FIELDS = {"other_id": str, "other_etag": (str, None)}


def _other_named(keep_id: uuid.UUID, what: str) -> tuple[uuid.UUID, str | None]:
    """The id of the record to fold into `keep_id`'s, and the ETag it was read at (if sent)."""
    given = json_body(FIELDS, required=("other_id",))
    other_id = parse_uuid(given["other_id"], "other_id", what)
    if other_id == keep_id:
        raise validation_error({"other_id": f"Name another of this workspace's {what} than the one kept."})
    return other_id, given.get("other_etag")


def the_other(keep_id: uuid.UUID, get: Callable, one: str, many: str) -> tuple[object, str | None]:
    """The record the body names to fold into `keep_id`'s (`get` loads a `one`, such as
    "contact"), and the ETag it was read at; 422 on other_id when there is no such record."""
    other_id, other_etag = _other_named(keep_id, many)
    other = get(other_id)
    if other is None:
        raise validation_error({"other_id": f"No such {one} in this workspace."})
    return other, other_etag


def merged(keep, other, other_etag: str | None, merge: Callable, body_of: Callable[[object], dict]):
    """Run the UI's `merge` of `other` into `keep` and answer with `keep` as it now is."""
    check(keep)
    if other_etag is not None and other_etag.strip() != etag(other.version):
        raise ApiError(412, "precondition_failed", CHANGED.replace("If-Match", "other_etag"),
                       {"other_etag": f"The other object is now at {etag(other.version)}."})
    try:
        merge(keep, other, actor=g.api_client)
    except duplicates.Refused as exc:
        db.session.rollback()
        raise ApiError(409, "merge_refused", str(exc)) from exc
    answer = tagged(body_of(keep), keep.version)
    db.session.commit()
    return answer


openapi.add_schemas({"MergeInput": {
    "type": "object", "additionalProperties": False, "required": ["other_id"], "properties": {
        "other_id": {"type": "string", "format": "uuid", "description": "The record folded into the one in the path"},
        "other_etag": {"type": ["string", "null"],
                       "description": "The other record's ETag as read; refused (412) if it changed since"}}}})


def operation(summary: str, schema: str, id_name: str) -> dict:
    """The OpenAPI operation of a merge route."""
    return openapi.operation(
        summary, scope="crm:read crm:write", body="MergeInput",
        parameters=[openapi.id_parameter(id_name), copy.deepcopy(openapi.IF_MATCH)],
        errors=(400, 404, 409, 412, 415, 422),
        responses={"200": {"description": "The record kept, after the merge", "headers": copy.deepcopy(openapi.ETAG_HEADER),
                           "content": {"application/json": {"schema": openapi.ref(schema)}}}})
