"""Outgoing e-mail: .eml files written whole or not at all; SMTP to a real server; every
failure a MailError so the notice that asked for it stays retryable."""

import os

import pytest

from tenantry.platform import mail
from tests.conftest import free_port


def test_file_backend_writes_a_parseable_eml(app, outbox):
    with app.app_context():
        message_id = mail.send("ana@example.com", "Your export is ready", "Hello Ana,\nit is ready.",
                               message_key="note-123")
    assert message_id == "<note-123@tenantry>"
    [path] = outbox.paths()
    assert path.suffix == ".eml"
    assert not list(path.parent.glob("*.tmp"))
    msg = outbox.last()
    assert msg["To"] == "ana@example.com"
    assert msg["Subject"] == "Your export is ready"
    assert msg["Message-ID"] == "<note-123@tenantry>"
    assert msg["From"] == app.extensions["tenantry.settings"].mail_from
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"] is not None
    assert msg.get_content() == "Hello Ana,\nit is ready.\n"


def test_file_backend_renames_a_complete_file_into_place(app, outbox, monkeypatch):
    """A reader of the outbox never sees half a message: the .eml appears by rename, complete."""
    seen = {}
    real_replace = os.replace

    def spy(src, dst):
        seen["target_existed"] = os.path.exists(dst)
        seen["content"] = open(src, "rb").read()  # noqa: SIM115
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    with app.app_context():
        mail.send("bo@example.com", "Subject", "Body", message_key="atomic")
    assert seen["target_existed"] is False
    assert seen["content"] == outbox.paths()[0].read_bytes()


def test_file_backend_failure_raises_mail_error_and_leaves_no_eml(make_app, tmp_path, outbox):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = make_app(TENANTRY_OUTBOX_DIR=str(blocker / "outbox"))
    with app.app_context(), pytest.raises(mail.MailError, match="outbox"):
        mail.send("bo@example.com", "Subject", "Body")


def test_smtp_backend_delivers_to_a_real_server(make_app, smtp_server):
    app = make_app(smtp_server.config(), TENANTRY_MAIL_FROM="Tenantry <notices@tenantry.test>")
    with app.app_context():
        message_id = mail.send("cy@example.com", "Breach notice", "Details inside.", message_key="n-42")
    [received] = smtp_server.messages
    assert received.mail_from == "notices@tenantry.test"
    assert received.rcpt_tos == ["cy@example.com"]
    assert received.message["Subject"] == "Breach notice"
    assert received.message["Message-ID"] == message_id == "<n-42@tenantry>"
    assert received.message.get_content().strip() == "Details inside."


def test_smtp_refusal_raises_mail_error(make_app, smtp_server):
    smtp_server.refuse = "550 5.1.1 Mailbox unavailable"
    app = make_app(smtp_server.config())
    with app.app_context(), pytest.raises(mail.MailError, match="550"):
        mail.send("dee@example.com", "Subject", "Body")
    assert smtp_server.messages == []


def test_unreachable_smtp_raises_mail_error(make_app):
    port = free_port()  # nothing listens there
    app = make_app(TENANTRY_MAIL="smtp", TENANTRY_SMTP_HOST="127.0.0.1", TENANTRY_SMTP_PORT=str(port),
                   TENANTRY_SMTP_STARTTLS="false", TENANTRY_SMTP_TIMEOUT="2")
    with app.app_context(), pytest.raises(mail.MailError, match=f"127.0.0.1:{port}"):
        mail.send("eve@example.com", "Subject", "Body")


def test_smtp_server_that_went_away_raises_mail_error(make_app, smtp_server):
    app = make_app(smtp_server.config())
    smtp_server.stop()
    with app.app_context(), pytest.raises(mail.MailError):
        mail.send("fay@example.com", "Subject", "Body")
