"""ETag and If-Match on the CRM's objects (RFC 9110 13.1.1): an integration that read an object
may change or delete it only if nobody changed it since, instead of overwriting a person's
edit. The ETag is the row's version (crm/versions.py), raised by every write of it."""

from __future__ import annotations

import re

from flask import jsonify, request

from .errors import ApiError

_ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e]*"')


CHANGED = "The object was changed since the version named in If-Match; read it again."


def etag(version: int) -> str:
    return f'"{version}"'


def tagged(body: dict, version: int, status: int = 200):
    """The object's JSON answer with its ETag: the version it was read at, or just written at
    (taken before the commit expires the row)."""
    return jsonify(body), status, {"ETag": etag(version)}


def check(row) -> None:
    """Refuse (412) a write whose If-Match names none of the row's current ETag; no If-Match,
    or `*` (the object exists, which it does), asks for no check. Weak tags never match: If-Match
    compares strongly."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return
    tags = [tag.strip() for tag in raw.split(",")]
    if not all(_ETAG.fullmatch(tag) for tag in tags):
        raise ApiError(400, "invalid_if_match", 'If-Match takes the ETag of the object as read, such as "3".',
                       {"If-Match": "Not a list of ETags."})
    if etag(row.version) not in tags:
        raise ApiError(412, "precondition_failed", CHANGED, headers={"ETag": etag(row.version)})


def conflict():
    """A write that lost the race to another between its check and its UPDATE
    (versions.EditConflict): refused as if it had come a moment later."""
    if request.headers.get("If-Match") is not None:
        return ApiError(412, "precondition_failed", CHANGED)
    return ApiError(409, "edit_conflict",
                    "The object was changed by another request while this one was written; send it again.")
