"""Notices: a database row first, an e-mail second. SMTP or Redis being down delays a notice;
the sweep re-sends it after its back-off, exactly once."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from tenantry.platform import clock, cron, notify
from tenantry.platform.db import db
from tenantry.platform.notify import Notification
from tests.conftest import free_port


def _note(note_id) -> Notification:
    db.session.expire_all()
    return db.session.get(Notification, note_id)


def _create(subject: str = "Breach notice") -> Notification:
    note = notify.create("test.notice", subject=subject, body="What happened, and what we did.",
                         to_email="dpo@customer.example")
    db.session.commit()
    return note


def test_create_writes_the_row_before_any_mail_and_delivers_after_commit(app, outbox):
    with app.app_context():
        note = notify.create("test.notice", subject="Hello", body="Body text", to_email="ana@example.com")
        note_id = note.id
        assert b"Body text" not in note.body_sealed  # the body is stored sealed
        db.session.commit()
        row = _note(note_id)
        assert (row.delivery_state, row.attempts, row.sent_at) == ("pending", 0, None)
        assert len(outbox) == 0
    # The inline mail job ran when the context ended.
    with app.app_context():
        row = _note(note_id)
        assert (row.delivery_state, row.attempts, row.last_error) == ("sent", 1, None)
        assert row.sent_at is not None and row.message_id == f"<{note_id}@tenantry>"
        assert row.body == "Body text"
    [message] = outbox.messages()
    assert message["To"] == "ana@example.com" and message["Message-ID"] == f"<{note_id}@tenantry>"
    assert message.get_content().strip() == "Body text"


def test_a_rolled_back_notice_is_neither_stored_nor_sent(app, outbox):
    with app.app_context():
        notify.create("test.notice", subject="Never", body="x", to_email="ana@example.com")
        db.session.rollback()
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar() == 0
    assert len(outbox) == 0


def test_an_in_app_notice_sends_no_mail(app, outbox):
    with app.app_context():
        note = notify.create("test.notice", subject="Only in app", body="x", in_app=True, email=False)
        note_id = note.id
        db.session.commit()
    with app.app_context():
        assert _note(note_id).delivery_state == "none"
    assert len(outbox) == 0


def test_delivering_twice_sends_once(app, outbox):
    with app.app_context():
        note_id = _create().id
    with app.app_context():
        assert notify.deliver(str(note_id)) == "skipped"
        assert _note(note_id).attempts == 1
    assert len(outbox) == 1


def test_smtp_down_leaves_the_notice_failed_and_the_sweep_delivers_it_once_after_back_off(make_app, smtp_server):
    app = make_app(smtp_server.config())
    smtp_server.stop()
    with app.app_context():
        note_id = _create().id
    with app.app_context():
        row = _note(note_id)
        assert (row.delivery_state, row.attempts) == ("failed", 1)
        assert "SMTP" in row.last_error
        assert row.next_attempt_at == row.last_attempt_at + timedelta(minutes=1)

        smtp_server.start()
        assert notify.retry_due() == 0  # the back-off has not passed yet
        assert _note(note_id).attempts == 1 and smtp_server.messages == []

        with time_machine.travel(clock.now() + timedelta(minutes=2)):
            assert notify.retry_due() == 1
            assert notify.retry_due() == 0
            assert cron.sweep()["notices"] == 0
        row = _note(note_id)
        assert (row.delivery_state, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(smtp_server.messages) == 1
    assert smtp_server.messages[0].message["Message-ID"] == f"<{note_id}@tenantry>"


def test_back_off_grows_with_each_failed_attempt(make_app, smtp_server):
    app = make_app(smtp_server.config())
    smtp_server.refuse = "451 4.3.0 try again later"
    with app.app_context():
        note_id = _create().id
    with app.app_context():
        waits = []
        for _ in range(3):
            row = _note(note_id)
            waits.append(row.next_attempt_at - row.last_attempt_at)
            with time_machine.travel(row.next_attempt_at + timedelta(seconds=1)):
                assert notify.retry_due() == 0  # still refused
        assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
        assert "451" in _note(note_id).last_error
    assert smtp_server.messages == []


def test_the_sweep_resends_failed_notices(make_app, smtp_server):
    app = make_app(smtp_server.config())
    smtp_server.stop()
    with app.app_context():
        note_id = _create().id
    smtp_server.start()
    with app.app_context(), time_machine.travel(clock.now() + timedelta(minutes=2)):
        assert cron.sweep()["notices"] == 1
        assert _note(note_id).delivery_state == "sent"
    assert len(smtp_server.messages) == 1


def test_redis_down_delays_a_notice_but_does_not_lose_it(make_app, outbox):
    port = free_port()  # nothing listens there
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    with app.app_context():
        note_id = _create().id  # the mail job could not be queued
    with app.app_context():
        assert _note(note_id).delivery_state == "pending"
        assert notify.retry_due() == 0  # a pending notice may still be on its way
        with time_machine.travel(clock.now() + timedelta(minutes=6)):
            assert notify.retry_due() == 1
        assert _note(note_id).delivery_state == "sent"
    assert len(outbox) == 1


def test_a_subject_with_a_line_break_goes_out_on_one_line(app, outbox):
    # Saved before forms refused line breaks in one-line fields (a workspace's name).
    with app.app_context():
        note_id = _create("You are invited to Acme\rCorp\non Tenantry").id
    with app.app_context():
        assert _note(note_id).delivery_state == "sent"
    [message] = outbox.messages()
    assert message["Subject"] == "You are invited to Acme Corp on Tenantry"


def test_a_notice_that_fails_unforeseen_does_not_hold_back_the_others(make_app, smtp_server, monkeypatch):
    app = make_app(smtp_server.config())
    smtp_server.stop()
    with app.app_context():
        poisoned, other = _create("Poisoned").id, _create("Breach notice").id  # the poisoned one is older
    smtp_server.start()
    real_send = notify.mail.send

    def send(to, subject, text, **kw):
        if subject == "Poisoned":
            raise RuntimeError("a bug nobody foresaw")
        return real_send(to, subject, text, **kw)

    monkeypatch.setattr(notify.mail, "send", send)
    with app.app_context(), time_machine.travel(clock.now() + timedelta(minutes=2)):
        assert notify.retry_due() == 1
        assert _note(other).delivery_state == "sent"
        stuck = _note(poisoned)
        assert (stuck.delivery_state, stuck.attempts) == ("failed", 2)  # counted: it stops at MAX_ATTEMPTS
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Breach notice"]
