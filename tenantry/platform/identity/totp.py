"""TOTP second factor (RFC 6238) with replay protection, lock-out and recovery codes."""

from __future__ import annotations

import enum
import hmac
import secrets
from datetime import timedelta

import pyotp
import segno
import sqlalchemy as sa

from tenantry.platform import audit, clock, notify
from tenantry.platform.crypto.sealing import seal, unseal_text
from tenantry.platform.db import db
from tenantry.platform.identity import tokens
from tenantry.platform.identity.models import RecoveryCode

STEP_SECONDS = 30
WINDOW = 1  # accept the previous and the next time step as well
MAX_FAILURES = 5
LOCK_MINUTES = 15
RECOVERY_CODES = 10
ISSUER = "Tenantry"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are typed from paper


class Result(enum.StrEnum):
    OK = "ok"
    RECOVERY = "recovery"
    INVALID = "invalid"
    LOCKED = "locked"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#111827")


def current_step() -> int:
    return int(clock.now().timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, after_step: int) -> int | None:
    """The time step within ±WINDOW that `code` belongs to, if it is later than `after_step`."""
    code = "".join(ch for ch in code if ch in "0123456789")  # str.isdigit() takes "²" too
    if len(code) != 6:
        return None
    otp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now = current_step()
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(otp.generate_otp(step), code) and step > after_step:
            return step
    return None


def _purpose(principal) -> str:
    return f"totp:{'staff' if principal.is_staff else 'user'}:{principal.id}"


def secret_of(principal) -> str:
    return unseal_text(principal.totp_secret_sealed, _purpose(principal))


def is_locked(principal) -> bool:
    until = principal.totp_locked_until
    return until is not None and until > clock.now()


def verify(principal, code: str, *, allow_recovery: bool = True) -> Result:
    """Check a TOTP or recovery code for sign-in; counts failures and locks out at MAX_FAILURES."""
    if is_locked(principal):
        return Result.LOCKED
    step = matching_step(secret_of(principal), code, principal.totp_last_step or 0)
    if step is not None:
        principal.totp_last_step = step
        principal.totp_failures = 0
        return Result.OK
    if allow_recovery and use_recovery_code(principal, code):
        principal.totp_failures = 0
        return Result.RECOVERY
    _fail(principal)
    return Result.LOCKED if is_locked(principal) else Result.INVALID


def _fail(principal) -> None:
    principal.totp_failures = (principal.totp_failures or 0) + 1
    if principal.totp_failures < MAX_FAILURES:
        return
    now = clock.now()
    principal.totp_locked_until = now + timedelta(minutes=LOCK_MINUTES)
    principal.totp_failures = 0
    audit.record("auth.2fa.locked", actor=principal, target_type="account", target_id=principal.id,
                 outcome="failure", details={"minutes": LOCK_MINUTES, "failures": MAX_FAILURES})
    notify.create(
        "security.2fa-locked",
        recipient=principal,
        subject="Two-factor sign-in locked for 15 minutes",
        body=(
            f"Someone entered {MAX_FAILURES} wrong two-factor codes for your Tenantry account "
            f"({principal.email}). Two-factor sign-in is locked until "
            f"{principal.totp_locked_until:%Y-%m-%d %H:%M} UTC.\n\n"
            "If this was not you, your password is known to someone else: change it as soon as "
            "you can sign in again, and tell your workspace owner."
        ),
    )


def enable(principal, secret: str, step: int) -> list[str]:
    """Store a confirmed secret and issue fresh recovery codes (returned once, in plaintext)."""
    principal.totp_secret_sealed = seal(secret, _purpose(principal))
    principal.totp_enabled_at = clock.now()
    principal.totp_last_step = step
    principal.totp_failures = 0
    principal.totp_locked_until = None
    return new_recovery_codes(principal)


def disable(principal) -> None:
    principal.totp_secret_sealed = None
    principal.totp_enabled_at = None
    principal.totp_last_step = 0
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.principal_filter(principal)))


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(principal) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.principal_filter(principal)))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode.for_principal(principal, code_hash=tokens.digest(raw)))
    return codes


def use_recovery_code(principal, code: str) -> bool:
    norm = _normalise(code)
    if len(norm) != 10:
        return False
    row = db.session.execute(
        sa.select(RecoveryCode).where(
            RecoveryCode.principal_filter(principal),
            RecoveryCode.code_hash == tokens.digest(norm),
            RecoveryCode.used_at.is_(None),
        )
    ).scalar_one_or_none()
    if row is None:
        return False
    row.used_at = clock.now()
    return True


def recovery_codes_left(principal) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(RecoveryCode).where(
            RecoveryCode.principal_filter(principal), RecoveryCode.used_at.is_(None)
        )
    ).scalar_one()
