"""tenants area."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.tenants import models  # noqa: F401
