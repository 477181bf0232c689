"""Outgoing e-mail: SMTP in production, .eml files in the instance outbox by default.

`send` raises MailError on any failure so the notice that asked for it stays retryable.
The Message-ID is derived from the notice, so a resend after a crash is recognisable.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app

from tenantry.platform import clock


class MailError(RuntimeError):
    pass


def _settings():
    return current_app.extensions["tenantry.settings"]


_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")


def build(to: str, subject: str, text: str, *, message_key: str | None = None) -> EmailMessage:
    """Raises MailError for a message that cannot be built (an address with a line break)."""
    s = _settings()
    msg = EmailMessage()
    try:
        msg["From"] = s.mail_from
        msg["To"] = to
        # A subject quotes names people typed; one saved before forms refused line breaks
        # would otherwise make the header, and so the notice, unsendable for good.
        msg["Subject"] = _BREAKS.sub(" ", subject)
    except (ValueError, TypeError) as exc:
        raise MailError(f"the message cannot be built: {exc}") from exc
    msg["Date"] = formatdate(clock.now().timestamp(), usegmt=True)
    msg["Message-ID"] = f"<{message_key}@tenantry>" if message_key else make_msgid(domain="tenantry")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    return msg


def send(to: str, subject: str, text: str, *, message_key: str | None = None) -> str:
    msg = build(to, subject, text, message_key=message_key)
    s = _settings()
    if s.mail == "smtp":
        _send_smtp(s, msg)
    else:
        _write_eml(Path(s.outbox_dir), msg)
    return msg["Message-ID"]


def _send_smtp(s, msg: EmailMessage) -> None:
    try:
        if s.smtp_ssl:
            client = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        with client:
            if s.smtp_starttls and not s.smtp_ssl:
                client.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from exc


def _write_eml(outbox: Path, msg: EmailMessage) -> None:
    tmp = None
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
        fd, tmp = tempfile.mkstemp(dir=outbox, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(msg))
        # Rename last so a reader never sees half a message.
        key = msg["Message-ID"].strip("<>").split("@")[0][:60]
        os.replace(tmp, outbox / f"{stamp}-{key}.eml")
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise MailError(f"outbox {outbox}: {exc}") from exc
