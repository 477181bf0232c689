"""The agreement and the processor's duties: versions, acceptances, and (later) subprocessors,
incidents, audits, inspections, cooperation and records of processing."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.dpa import models, views  # noqa: F401

    app.register_blueprint(views.bp)
