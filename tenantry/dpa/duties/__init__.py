"""The processor's duties towards each controller: audits, supervisory authority inspections,
cooperation requests and records of processing."""

from flask import Flask

from tenantry.dpa.duties import models  # noqa: F401  (the tables belong to the schema)


def init_app(app: Flask) -> None:
    return None
