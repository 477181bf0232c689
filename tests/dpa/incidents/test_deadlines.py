"""The 48-hour clock: deadlines from awareness, reminders at 24/36/44 h, lateness on record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents import service
from tenantry.dpa.incidents.models import EntryKind, IncidentFlag, IncidentReminder
from tenantry.platform import cron
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tenantry.platform.tenancy import all_tenants
from tests import factories
from tests.dpa.incidents.support import dpo, incident_for

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def _reminders() -> list[Notification]:
    return list(db.session.execute(sa.select(Notification).where(Notification.kind == "incident.reminder")
                                   .order_by(Notification.created_at)).scalars())


@pytest.mark.obligation("DPA-4.3.6", "TEK-breach-plan")
def test_deadlines_are_columns_computed_from_awareness(app_ctx, time_machine):
    time_machine.move_to(T0 + timedelta(hours=3), tick=False)
    tenant = factories.make_tenant("acme")
    incident = incident_for([tenant], aware_at=T0, detected_at=T0 - timedelta(hours=1))
    db.session.commit()
    assert incident.plan_due_at == T0 + timedelta(hours=24)
    assert incident.notify_due_at == T0 + timedelta(hours=48)
    assert incident.solution_target_at == T0 + timedelta(hours=48)
    assert incident.severity_score == 1.25 and incident.severity == "low"


@pytest.mark.obligation("TEK-breach-plan")
def test_a_later_solution_target_needs_a_reason(app_ctx, time_machine):
    time_machine.move_to(T0, tick=False)
    tenant = factories.make_tenant("acme")
    db.session.commit()
    with pytest.raises(service.IncidentError) as err:
        incident_for([tenant], aware_at=T0, solution_target_at=T0 + timedelta(hours=72))
    assert err.value.field == "solution_target_reason"
    db.session.rollback()
    incident = incident_for([tenant], aware_at=T0, solution_target_at=T0 + timedelta(hours=72),
                            solution_target_reason="The vendor's patch ships on Friday.")
    assert incident.solution_target_at == T0 + timedelta(hours=72)


@pytest.mark.obligation("DPA-4.3.6", "TEK-breach-plan")
def test_reminders_fire_at_24_36_and_44_hours_and_not_before(app_ctx, time_machine):
    time_machine.move_to(T0, tick=False)
    tenant = factories.make_tenant("acme")
    admin = factories.make_staff("platform-admin")
    factories.make_staff("support")
    incident = incident_for([tenant], aware_at=T0)
    db.session.commit()
    desk = {dpo().email, admin.email}

    def sweep_at(hours, minutes=0):
        at = T0 + timedelta(hours=hours, minutes=minutes)
        time_machine.move_to(at, tick=False)
        return cron.sweep(at)["incident-reminders"]

    assert sweep_at(23, 59) == 0 and _reminders() == []
    assert sweep_at(24) == 1
    assert {n.to_email for n in _reminders()} == desk  # DPO and platform admins, not support
    assert sweep_at(24, 30) == 0 and sweep_at(35, 59) == 0
    assert len(_reminders()) == 2
    assert sweep_at(36) == 1
    assert sweep_at(43, 59) == 0
    assert sweep_at(44) == 1
    assert sweep_at(47) == 0
    hours = db.session.execute(sa.select(IncidentReminder.hours).where(
        IncidentReminder.incident_id == incident.id).order_by(IncidentReminder.hours)).scalars().all()
    assert hours == [24, 36, 44]
    assert [n.subject.split(")")[0] for n in _reminders()][::2] == ["Reminder (24 h", "Reminder (36 h",
                                                                    "Reminder (44 h"]
    # Unmet deadlines are flagged red once each (plan at 24 h, notify and solution at 48 h).
    assert sweep_at(48, 1) == 0
    assert cron.sweep(T0 + timedelta(hours=49))["incident-deadlines"] == 0
    flags = set(db.session.execute(sa.select(IncidentFlag.deadline)).scalars())
    assert flags == {"plan", "notify", "solution"}
    time_machine.move_to(T0 + timedelta(hours=49), tick=False)
    [plan, notified, _solution] = service.deadlines(incident)
    assert plan.overdue and notified.overdue and notified.late_seconds == 3600


@pytest.mark.obligation("DPA-4.3.6")
def test_no_reminder_once_every_tenant_is_notified(app_ctx, time_machine):
    time_machine.move_to(T0, tick=False)
    tenant = factories.make_tenant("acme")
    incident = incident_for([tenant], aware_at=T0)
    db.session.commit()
    time_machine.move_to(T0 + timedelta(hours=2), tick=False)
    service.notify_tenants(incident, staff=dpo())
    service.add_entry(incident, EntryKind.PLAN, staff=dpo(), body="Rotate keys, audit bucket policies.")
    db.session.commit()
    for hours in (24, 36, 44, 49):
        result = cron.sweep(T0 + timedelta(hours=hours))
        assert result["incident-reminders"] == 0
    assert _reminders() == []
    assert set(db.session.execute(sa.select(IncidentFlag.deadline)).scalars()) == {"solution"}


@pytest.mark.obligation("DPA-4.3.6")
@pytest.mark.parametrize(("sent_after", "late"), [(timedelta(hours=47, minutes=59), 0),
                                                   (timedelta(hours=48, minutes=1), 60)])
def test_a_notice_at_47_59_is_on_time_and_at_48_01_late(app_ctx, time_machine, sent_after, late):
    time_machine.move_to(T0, tick=False)
    tenant = factories.make_tenant("acme")
    incident = incident_for([tenant], aware_at=T0)
    db.session.commit()
    time_machine.move_to(T0 + sent_after, tick=False)
    [notice] = service.notify_tenants(incident, staff=dpo())
    db.session.commit()
    with all_tenants():
        assert notice.sent_at == T0 + sent_after
        assert notice.late_seconds == late
    [entry] = service.register()
    assert entry["notified_late_seconds_max"] == late
    [_plan, notified, _solution] = service.deadlines(incident)
    assert notified.done_at == T0 + sent_after and notified.late_seconds == late
