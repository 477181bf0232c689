"""Connections are pinged at checkout only after sitting idle (db.ping_when_idle), and one that
does not answer then is replaced before any request uses it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform import db as db_module
from tenantry.platform.db import db


def _backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        db.session.remove()  # back to the pool
    return pid


@pytest.fixture
def pings(app, monkeypatch):
    seen = []
    with app.app_context():
        dialect = db.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection):
        seen.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return seen


def test_a_connection_used_moments_ago_is_not_pinged(app, pings):
    with app.app_context():
        for _ in range(3):
            assert db.session.execute(sa.text("SELECT 1")).scalar_one() == 1
            db.session.remove()
    assert pings == []


def test_an_idle_connection_that_died_is_replaced_before_use(app, db_kind, database, pings, monkeypatch):
    if db_kind != "postgresql":
        pytest.skip("needs a server whose connection can be killed")
    dead = _backend_pid(app)
    killer = sa.create_engine(database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with killer.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead}).scalar_one()
    killer.dispose()
    monkeypatch.setattr(db_module, "IDLE_BEFORE_PING", 0.0)
    assert _backend_pid(app) != dead
    assert len(pings) >= 1
