"""The platform admin's jobs page: RQ's queues and failed jobs read from the real Redis, errors
shown with e-mail addresses masked, and a failed job put back on its queue (audited)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tenantry.platform import jobs
from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tests import factories


def explode() -> None:
    """A job that fails as a delivery would, naming an address in its error."""
    raise RuntimeError("SMTPRecipientsRefused: jana.novakova@example.com refused")


@pytest.mark.redis
def test_a_failed_job_is_listed_masked_and_put_back_on_its_queue(make_app, redis_url, rq_worker):
    from rq.registry import FailedJobRegistry

    app = make_app(REDIS_URL=redis_url, WTF_CSRF_ENABLED=False)
    with app.app_context():
        db.session.commit()
        job_id = jobs.rq_queue("mail").enqueue("tenantry.platform.jobs.execute", f"{__name__}:explode", None, {}).id
    rq_worker(app, "mail")  # the real worker fails it, as production's would
    with app.app_context():
        jobs.rq_queue("mail").enqueue("tenantry.platform.jobs.execute", f"{__name__}:explode", None, {})
        admin = factories.make_staff("platform-admin")
        db.session.commit()
        client = app.test_client()
        factories.sign_in(client, admin, staff=True)

    page = client.get("/admin/jobs/").get_data(as_text=True)
    assert "<td>mail</td><td>1</td><td>0</td><td>0</td><td>1</td>" in page  # one queued, one failed
    assert "RuntimeError: SMTPRecipientsRefused: [address] refused" in page and "jana.novakova" not in page
    assert f"{__name__}:explode" in page

    retried = client.post(f"/admin/jobs/queues/mail/{job_id}/retry")
    assert retried.status_code == 302
    with app.app_context():
        queue = jobs.rq_queue("mail")
        assert job_id in queue.job_ids and job_id not in FailedJobRegistry(queue=queue).get_job_ids()
        [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job.retry_requested")).all()
        assert event.target_id == job_id and event.details == {"queue": "mail"}
    assert client.post(f"/admin/jobs/queues/mail/{job_id}/retry").status_code == 404  # no longer failed
    assert client.post(f"/admin/jobs/queues/nope/{job_id}/retry").status_code == 404
