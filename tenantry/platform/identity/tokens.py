"""Random secrets handed to people once (links, session cookies, recovery codes); only hashes are kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.identity.models import SetupToken

SETUP_LINK_HOURS = 72
RESET = "reset"  # a SetupToken's purpose: a forgotten password (identity.views.forgot_password)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def issue_setup_link(principal, *, purpose: str = "setup", hours: int = SETUP_LINK_HOURS) -> str:
    """A one-time link to set a password. Earlier unused links of the account stop working."""
    now = clock.now()
    db.session.execute(
        sa.update(SetupToken)
        .where(SetupToken.principal_filter(principal), SetupToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = new_token()
    db.session.add(SetupToken.for_principal(
        principal, token_hash=digest(raw), purpose=purpose, expires_at=now + timedelta(hours=hours)
    ))
    base = current_app.extensions["tenantry.settings"].base_url
    return f"{base}/setup/{raw}"


def find_setup_token(raw: str) -> SetupToken | None:
    row = db.session.execute(sa.select(SetupToken).where(SetupToken.token_hash == digest(raw))).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row
