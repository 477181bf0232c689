"""Data subject requests [DSR-*]: a workspace's owners and admins open a request for a person,
find everything held about them, answer it (access, portability, rectification, erasure,
restriction, objection) within the deadline, tell the recipients and record the response."""

from flask import Flask

from tenantry.tenants.subject_requests import models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    from tenantry.platform import cron
    from tenantry.platform.crypto import rotation
    from tenantry.platform.web import add_tenant_nav
    from tenantry.tenants.crm import duplicates
    from tenantry.tenants.subject_requests import reminders, service, views

    app.register_blueprint(views.bp)
    duplicates.add_guard(app, service.open_request_blocks_merge)
    cron.register(app, "subject-request-deadlines", reminders.sweep)
    add_tenant_nav(app, "subject_requests.index", "[[Data subject]] requests", role="admin", order=85)
    for model in (models.SubjectRequest, models.SubjectRequestEvent):
        for column in model.ENCRYPTED:
            rotation.register_encrypted_column(model, column)
