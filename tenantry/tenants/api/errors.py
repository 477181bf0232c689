"""The API's one error shape: {"error": {"code", "message", "fields"}} with a 4xx status."""

from __future__ import annotations

from typing import Any

from flask import jsonify


class ApiError(Exception):
    """Raised anywhere below a view; the blueprint turns it into `api_error(...)`."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, more: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields, headers
        self.more = more

    def response(self):
        body, status = api_error(self.status, self.code, self.message, self.fields, self.more)
        return body, status, self.headers or {}


def api_error(status: int, code: str, message: str, fields: dict[str, Any] | None = None,
              more: dict[str, Any] | None = None):
    """`more`: keys an error of one code adds beside the three (such as "duplicates")."""
    return jsonify({"error": {"code": code, "message": message, "fields": fields or {}, **(more or {})}}), status
