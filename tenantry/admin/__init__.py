"""The operator's console for staff (platform admin, DPO, support)."""

from flask import Flask


def init_app(app: Flask) -> None:
    from tenantry.admin import (
        duties,
        incidents,
        jobs_health,
        lifecycle,
        notices,
        registry,
        security,
        special_categories,
        staff,
        tenants,
        views,
    )

    views.init_app(app)  # the console's navigation, role by role
    for blueprint in (views.bp, incidents.bp, registry.bp, duties.bp, notices.bp, tenants.bp, staff.bp,
                      jobs_health.bp, security.bp, special_categories.bp, lifecycle.bp):
        app.register_blueprint(blueprint)
    views.add_staff_nav("special_categories.index", "Special categories", special_categories.ROLES)
    staff.register_review(app)  # the monthly staff account review (a sweep step) [TT-account-review]
