"""A tenant's lifecycle: full exports, daily backups and importing an export (the export
lane's modules); cancellation, read-only mode and the purge (cancel_setup and its modules)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.tenants.lifecycle import cancel_setup

    cancel_setup.init_app(app)  # cancellation, read-only mode, expedited deletion, day-80 purge
