"""Tenantry: a multi-tenant CRM whose data processing agreement is kept in code."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. String values in `config` override environment variables."""
    from tenantry.platform import web
    from tenantry.platform.config import Settings

    config = dict(config or {})
    env = dict(os.environ)
    env.update({k: v for k, v in config.items() if isinstance(v, str)})
    settings = Settings.from_env(env)

    app = web.App(__name__, instance_path=str(settings.instance_dir), instance_relative_config=False)
    app.config.update(web.flask_config(settings))
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    web.init_app(app, settings)
    _register_areas(app)
    return app


def _register_areas(app: Flask) -> None:
    # One way only: platform <- dpa <- tenants <- admin.
    from tenantry import admin, dpa, tenants
    from tenantry.platform import identity

    identity.init_app(app)
    dpa.init_app(app)
    tenants.init_app(app)
    admin.init_app(app)
