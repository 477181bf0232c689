"""admin area."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.admin import models  # noqa: F401
