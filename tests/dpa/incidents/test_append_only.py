"""Incident records and their timelines are never rewritten: the application role cannot
UPDATE or DELETE them on PostgreSQL [DPA-4.3.7]."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tests import factories
from tests.dpa.incidents.support import incident_for

TABLES = ["incidents", "incident_entries", "incident_tenants", "incident_notices", "incident_notice_recipients",
          "incident_reminders", "incident_flags"]


@pytest.mark.postgres_only
@pytest.mark.obligation("DPA-4.3.7")
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
def test_the_app_role_can_neither_change_nor_remove_incident_rows(app, database, statement):
    with app.app_context():
        incident_for([factories.make_tenant("acme")])
        db.session.commit()
    engine = database.engine()
    try:
        for table in TABLES:
            column = "tenant_id" if table.startswith(("incident_tenants", "incident_notice")) else "incident_id"
            column = "id" if table == "incidents" else column
            with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("SELECT set_config('tenantry.all_tenants', 'on', false)"))
                conn.execute(sa.text(statement.format(t=table, c=column)))
    finally:
        engine.dispose()
