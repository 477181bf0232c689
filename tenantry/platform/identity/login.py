"""Sign-in steps: password, then TOTP when enrolled, with audit events for each outcome."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import session

from tenantry.platform import audit, clock
from tenantry.platform.db import db
from tenantry.platform.identity import passwords
from tenantry.platform.identity.models import StaffUser, User

PENDING_SECONDS = 300


def model_for(kind: str):
    return StaffUser if kind == "staff" else User


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find(kind: str, email: str):
    model = model_for(kind)
    return db.session.execute(sa.select(model).where(model.email == normalise_email(email))).scalar_one_or_none()


def check_password(kind: str, email: str, password: str):
    """The account, if the password is right and the account active; every attempt is audited."""
    principal = find(kind, email)
    ok = principal is not None and principal.active and passwords.verify_password(principal.password_hash, password)
    if principal is None:
        passwords.verify_password(None, password)
    if not ok:
        audit.record(f"auth.{kind}.login", actor=principal, actor_type=None if principal else "anonymous",
                     outcome="failure", details={"step": "password"})
        db.session.commit()
        return None
    if passwords.needs_rehash(principal.password_hash):
        principal.password_hash = passwords.hash_password(password)
    return principal


def set_pending(kind: str, principal, next_url: str | None) -> None:
    session["pending_2fa"] = {"kind": kind, "id": str(principal.id), "at": time.time(), "next": next_url}


def pending():
    data = session.get("pending_2fa")
    if not data or time.time() - data.get("at", 0) > PENDING_SECONDS:
        return None, None
    principal = db.session.get(model_for(data["kind"]), uuid.UUID(data["id"]))
    if principal is None or not principal.active or not principal.has_totp:
        return None, None
    return data, principal


def set_password(principal, password: str) -> None:
    principal.password_hash = passwords.hash_password(password)
    principal.password_changed_at = clock.now()


def safe_next(url: str | None) -> str | None:
    """Only same-site paths are followed after sign-in (no open redirects)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url
