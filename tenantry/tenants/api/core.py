"""The /api/v1 blueprint and what every endpoint shares: the bearer-token and scope check,
the tenant context taken from the token, per-client rate limits, the write gates, and
JSON bodies."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException

from tenantry.platform import clock, tenancy
from tenantry.platform.db import db
from tenantry.platform.extensions import csrf, limiter
from tenantry.tenants.crm import versions

from . import preconditions, rate_limit, token_cache
from .errors import ApiError, api_error
from .oauth import protector

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens, not cookies: a cross-site form cannot send one, so CSRF tokens add nothing.
csrf.exempt(bp)
# Its limit is per client (rate_limit), counted once the token names the client.
limiter.exempt(bp)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# last_used_at is for the account review (is this client still needed?); minute precision is
# plenty and spares a write on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return exc.response()


@bp.errorhandler(versions.EditConflict)
def _edit_conflict(_exc):
    db.session.rollback()
    return preconditions.conflict().response()


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = exc.name.lower().replace(" ", "_")
    message = {404: "No such object in this workspace."}.get(exc.code or 0, exc.description or exc.name)
    return api_error(exc.code or 500, code, message)


def _write_gates(tenant) -> None:
    for gate in current_app.extensions.get("tenantry.api_write_gates", []):
        response = gate(tenant)
        if response is not None:
            raise _GateResponse(response)


class _GateResponse(Exception):
    def __init__(self, response):
        super().__init__("write refused by a gate")
        self.response = response


def require_scope(*scopes: str):
    """The view needs a valid bearer token carrying every scope named. It then runs in the
    token's tenant (another tenant's ids are simply not found: 404) with `g.api_client` set."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                grant = protector.acquire_token([" ".join(scopes)] if scopes else None)
            except OAuth2Error as exc:
                headers = dict(exc.get_headers())
                headers.pop("Content-Type", None)
                status = exc.status_code or 401
                code = exc.error or "invalid_token"
                # Ours where Authlib's says less (which scopes); Authlib's where it says more
                # (an expired token).
                message = {
                    "missing_authorization": "Send an access token: Authorization: Bearer <token>.",
                    "insufficient_scope": f"This needs the scope{'s' if len(scopes) > 1 else ''} "
                                          f"{' '.join(scopes)}.",
                }.get(code) or exc.get_error_description() or {
                    "invalid_token": "The access token is not valid."}.get(code, code)
                raise ApiError(status, code, message, headers=headers) from exc
            g.tenant_token = tenancy.activate(grant.tenant)
            g.api_client = grant.client
            g.api_token = grant.token
            rate_limit.check(grant.client)
            now = clock.now()
            if grant.client.last_used_at is None or now - grant.client.last_used_at > LAST_USED_PRECISION:
                grant.client.last_used_at = now
                token_cache.seen_last_used(grant.client.id, grant.token_hash, now)
            if request.method in WRITE_METHODS:
                try:
                    _write_gates(grant.tenant)
                except _GateResponse as stop:
                    return stop.response
            return view(*args, **kwargs)

        return wrapper

    return decorator


def json_body(allowed: dict[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object, checked for shape before any validation of values: the
    content type, well-formed JSON, an object, no unknown fields, each value of its type.
    `allowed` maps field names to a type or a tuple of types (list means list of strings)."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # silent covers malformed JSON only, not nesting past the parser's stack
        data = None
    if data is None:
        raise ApiError(400, "invalid_json", "The body is not well-formed JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    # JSON may escape half of a UTF-16 pair ("\ud800"), which is no text and cannot be stored.
    if b"\\u" in request.get_data() and _has_lone_surrogate(data):
        raise ApiError(400, "invalid_json", "The body holds a lone UTF-16 surrogate (such as \\ud800), "
                                            "which is not text.")
    unknown = {name: "Unknown field." for name in data if name not in allowed}
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field: {', '.join(sorted(unknown))}.", unknown)
    wrong = {}
    for name, value in data.items():
        expected = allowed[name]
        types = expected if isinstance(expected, tuple) else (expected,)
        if not _is_of(value, types):
            wrong[name] = f"Expected {_type_names(types)}."
    if wrong:
        raise ApiError(400, "wrong_type", "Some fields have the wrong type.", wrong)
    missing = {name: "This field is required." for name in required if data.get(name) in (None, "")}
    if missing:
        raise ApiError(422, "validation_failed", "Required fields are missing.", missing)
    return data


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def _is_of(value: Any, types: tuple) -> bool:
    for t in types:
        if t is None and value is None:
            return True
        if t is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return True
        if t is bool and isinstance(value, bool):
            return True
        if t is dict and isinstance(value, dict):
            return True
        if t in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if t is str and isinstance(value, str):
            return True
    return False


def _type_names(types: tuple) -> str:
    names = {None: "null", str: "a string", list: "a list of strings", bool: "true or false",
             int: "a number", float: "a number", dict: "an object"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def validation_error(fields: dict[str, str | list[str]]) -> ApiError:
    flat = {name: msgs if isinstance(msgs, str) else " ".join(msgs) for name, msgs in fields.items()}
    return ApiError(422, "validation_failed", "Some values are not valid; see fields.", flat)
