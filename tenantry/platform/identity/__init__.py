"""People and how they prove who they are: users, staff, memberships, sessions, TOTP."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.platform.identity import cli, models, sessions, views  # noqa: F401

    app.register_blueprint(views.bp)
    app.add_url_rule("/", "home", views.home)
    cli.register()
