"""The one clock: aware UTC, follows time travel, and stored times come back aware UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant


def test_now_is_timezone_aware_utc():
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_now_follows_time_travel():
    target = datetime(2031, 2, 28, 23, 59, 30, tzinfo=UTC)
    with time_machine.travel(target, tick=False):
        assert clock.now() == target
    with time_machine.travel(target) as traveller:
        traveller.shift(timedelta(days=80))
        assert clock.now() - (target + timedelta(days=80)) < timedelta(seconds=5)


def test_now_is_utc_even_when_travelling_to_another_zone():
    prague = timezone(timedelta(hours=2))
    with time_machine.travel(datetime(2030, 6, 1, 12, 0, tzinfo=prague), tick=False):
        assert clock.now() == datetime(2030, 6, 1, 10, 0, tzinfo=UTC)
        assert clock.now().utcoffset() == timedelta(0)


def test_aware_treats_naive_values_as_utc():
    assert clock.aware(datetime(2030, 1, 1)) == datetime(2030, 1, 1, tzinfo=UTC)
    assert clock.aware(None) is None


def test_stored_times_come_back_aware_utc(app_ctx):
    moment = datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        db.session.add(Tenant(slug="acme", name="Acme", country="CZ"))
        db.session.commit()
    db.session.expire_all()
    created = db.session.execute(sa.select(Tenant.created_at)).scalar_one()
    assert created == moment and created.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused_on_write(app_ctx):
    db.session.add(Tenant(slug="naive", name="Naive", country="CZ", created_at=datetime(2030, 1, 1)))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()
