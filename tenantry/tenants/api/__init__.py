"""The JSON API under /api/v1 for a tenant's integrations, with OAuth2 client credentials.

Other modules add endpoints on the blueprint `bp` with `require_scope(...)`, answer errors
with `api_error(...)` (or raise `ApiError`), page lists with `paginate(...)`, and describe
their routes with `openapi.add_paths({...})`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from flask import Flask, jsonify

from . import models, openapi  # noqa: F401  (the tables belong to the schema)
from .core import bp, json_body, require_scope, validation_error
from .errors import ApiError, api_error
from .pagination import paginate

__all__ = ["ApiError", "api_error", "bp", "json_body", "openapi", "paginate", "require_scope",
           "validation_error"]


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


def init_app(app: Flask) -> None:
    from tenantry.platform import cron
    from tenantry.platform.web import add_tenant_nav

    from . import cli, clients, oauth, views

    _import_endpoint_modules()

    for name, default in (("TENANTRY_API_RATE_LIMIT", "600 per minute"),
                          ("TENANTRY_API_TOKEN_RATE_LIMIT", "60 per minute")):
        app.config.setdefault(name, os.environ.get(name) or default)
    oauth.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(views.bp)
    add_tenant_nav(app, "api_clients.index", "API clients", role="admin", order=93)
    cron.register(app, "api_tokens", clients.purge_expired_tokens)
    cli.register()


def _import_endpoint_modules() -> None:
    """Every module of this package is imported before the blueprint is registered, so a
    module that adds endpoints (exports, audit events, ...) only has to exist here: Flask
    refuses routes added to a blueprint after its registration."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
