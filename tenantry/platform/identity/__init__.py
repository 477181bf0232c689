"""People and how they prove who they are: users, staff, memberships, sessions, TOTP."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.platform.identity import models  # noqa: F401
