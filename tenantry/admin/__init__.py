"""The operator's console for staff (platform admin, DPO, support)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.admin import views

    app.register_blueprint(views.bp)
