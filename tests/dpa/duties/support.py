"""Helpers of the duties tests: staff accounts, tenants, and reading rows back."""

from __future__ import annotations

import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants
from tests import factories
from tests.identity.support import in_app, who


def new_staff(app, role: str):
    with in_app(app):
        return who(factories.make_staff(role))


def rows(app, model, *where, order_by=None):
    """Plain dicts of the matching rows, read across tenants."""
    with in_app(app, commit=False), all_tenants():
        query = sa.select(model).where(*where)
        if order_by is not None:
            query = query.order_by(order_by)
        found = db.session.execute(query).scalars().all()
        return [{c.key: getattr(r, c.key) for c in sa.inspect(model).column_attrs} for r in found]


def notices(app, kind: str | None = None):
    where = [Notification.kind == kind] if kind else []
    return rows(app, Notification, *where, order_by=Notification.created_at)
