"""The agreement and the processor's duties: versions and acceptances, the subprocessor registry
(registry/), audits, inspections, cooperation and records of processing (duties/), and
incidents with the breach register (incidents/)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.dpa import duties, incidents, models, registry, special_categories, views  # noqa: F401

    app.register_blueprint(views.bp)
    registry.init_app(app)
    duties.init_app(app)
    incidents.init_app(app)
