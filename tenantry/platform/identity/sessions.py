"""Signed-in sessions kept as rows, so they can expire, be listed and be ended from elsewhere.

The cookie holds a random token; the row holds its hash, the idle and absolute limits are
checked on every request, and changing a password or 2FA secret ends the other sessions.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, has_request_context, request, session
from flask_login import login_user, logout_user

from tenantry.platform import clock
from tenantry.platform.db import db
from tenantry.platform.extensions import login_manager
from tenantry.platform.identity import tokens
from tenantry.platform.identity.models import AuthSession, StaffUser, User

TOUCH_EVERY = timedelta(seconds=60)


def _limits() -> tuple[timedelta, timedelta]:
    s = current_app.extensions["tenantry.settings"]
    return timedelta(minutes=s.session_idle_minutes), timedelta(hours=s.session_max_hours)


def start(principal) -> AuthSession:
    """Sign `principal` in with a brand-new session id (nothing of the old cookie survives)."""
    session.clear()
    raw = tokens.new_token()
    row = AuthSession.for_principal(
        principal,
        token_hash=tokens.digest(raw),
        ip=request.remote_addr if has_request_context() else None,
        user_agent=(request.user_agent.string[:400] if has_request_context() else None),
    )
    db.session.add(row)
    principal.last_login_at = clock.now()
    principal._auth_token = raw
    principal._auth_session = row
    session.permanent = True
    login_user(principal)
    return row


def end(principal, reason: str = "signed out") -> None:
    row = getattr(principal, "_auth_session", None)
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        row.revoked_reason = reason
    logout_user()
    session.clear()


def end_others(principal, reason: str) -> int:
    """End every other session of this account (password or 2FA secret changed)."""
    keep = getattr(principal, "_auth_session", None)
    query = sa.update(AuthSession).where(
        AuthSession.principal_filter(principal), AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(AuthSession.id != keep.id)
    result = db.session.execute(query.values(revoked_at=clock.now(), revoked_reason=reason))
    return result.rowcount or 0


def active_sessions(principal) -> list[AuthSession]:
    idle, absolute = _limits()
    now = clock.now()
    rows = db.session.execute(
        sa.select(AuthSession)
        .where(AuthSession.principal_filter(principal), AuthSession.revoked_at.is_(None),
               AuthSession.created_at > now - absolute, AuthSession.last_seen_at > now - idle)
        .order_by(AuthSession.last_seen_at.desc())
    ).scalars()
    return list(rows)


@login_manager.user_loader
def _load(token: str):
    row = db.session.execute(
        sa.select(AuthSession).where(AuthSession.token_hash == tokens.digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    idle, absolute = _limits()
    now = clock.now()
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        _revoke_now(row, "expired")
        return None
    principal = db.session.get(StaffUser if row.staff_id else User, row.staff_id or row.user_id)
    if principal is None or not principal.active:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        _touch(row, now)
    principal._auth_token = token
    principal._auth_session = row
    return principal


def _touch(row: AuthSession, now) -> None:
    # Outside the request's transaction: a read-only page must not commit the request's work.
    with db.engine.begin() as conn:
        conn.execute(sa.update(AuthSession).where(AuthSession.id == row.id).values(last_seen_at=now))


def _revoke_now(row: AuthSession, reason: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(AuthSession).where(AuthSession.id == row.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=clock.now(), revoked_reason=reason)
        )
