"""Redis and SMTP both down when the DPO notifies: the notices wait in the database and arrive
once both are back, exactly once per recipient [DPA-4.3.6]."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.dpa.incidents import service
from tenantry.dpa.incidents.models import Incident
from tenantry.platform import clock, cron, jobs
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tests import factories
from tests.conftest import _stop, free_port, wait_for_port
from tests.dpa.incidents.support import dpo, incident_for


class RedisServer:
    """A redis-server of this test's own, so it can be killed and started again on its port."""

    def __init__(self, workdir):
        self.port = free_port()
        self.workdir = workdir
        self.proc = None

    def start(self):
        binary = shutil.which("redis-server")
        self.proc = subprocess.Popen(  # noqa: S603
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc)

    def stop(self):
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def own_redis(redis_url, tmp_path):
    # redis_url makes the test skip (or fail under CI) where redis-server is missing.
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _states():
    db.session.expire_all()
    return sorted((n.to_email, n.delivery_state) for n in db.session.execute(
        sa.select(Notification).where(Notification.kind == "incident.notice")).scalars())


@pytest.mark.redis
@pytest.mark.obligation("DPA-4.3.6")
def test_a_notice_queued_while_redis_and_smtp_are_down_arrives_once_when_both_are_back(
        make_app, smtp_server, own_redis, rq_worker, time_machine):
    app = make_app(smtp_server.config(), REDIS_URL=own_redis.url)
    start = clock.now()
    with app.app_context():
        tenant = factories.make_tenant("acme", privacy_contact_email="privacy@acme.example")
        owner_email = tenant._test_owner.email
        incident_id = incident_for([tenant], aware_at=start - timedelta(hours=30)).id
        db.session.commit()

    own_redis.stop()
    smtp_server.stop()
    # Notified 20 minutes ago (in the past, so the worker's real clock sees a stale notice).
    time_machine.move_to(start - timedelta(minutes=20), tick=False)
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        service.notify_tenants(incident, staff=dpo())
        db.session.commit()  # the mail jobs cannot be queued: logged, not raised
        assert jobs._ready() == []
        assert _states() == [(owner_email, "pending"), ("privacy@acme.example", "pending")]

    # A sweep while SMTP still refuses: the notices stay, marked failed, to be retried.
    time_machine.move_to(start - timedelta(minutes=10), tick=False)
    with app.app_context():
        assert cron.sweep()["notices"] == 0
        assert _states() == [(owner_email, "failed"), ("privacy@acme.example", "failed")]
    assert smtp_server.messages == []

    time_machine.move_to(start, tick=False)
    own_redis.start()
    smtp_server.start()
    with app.app_context():
        # Production's `rq cron` puts the sweep on the maintenance queue; a real worker runs it.
        jobs.enqueue("maintenance", "tenantry.platform.cron:sweep_job")
    rq_worker(app, "maintenance", "mail")
    rq_worker(app, "maintenance", "mail")  # nothing left to do: no second copy
    with app.app_context():
        jobs.enqueue("maintenance", "tenantry.platform.cron:sweep_job")
    rq_worker(app, "maintenance", "mail")
    with app.app_context():
        assert _states() == [(owner_email, "sent"), ("privacy@acme.example", "sent")]
    received = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert received == sorted([owner_email, "privacy@acme.example"])
