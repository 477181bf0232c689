"""dpa area."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.dpa import models  # noqa: F401
