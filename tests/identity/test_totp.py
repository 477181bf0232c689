"""TOTP two-factor authentication: enrolment, replay protection, lock-out, recovery codes [DPA-B.2fa]."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tenantry.platform.db import db
from tenantry.platform.identity import totp
from tenantry.platform.identity.models import RecoveryCode, User
from tests import factories
from tests.identity.support import (
    STEP0,
    audit_events,
    code_at,
    field_errors,
    in_app,
    location,
    login_password,
    login_with_code,
    logout,
    new_member,
    new_tenant,
    text,
    who,
)

pytestmark = pytest.mark.obligation("DPA-B.2fa")

LOCK_MESSAGE = "Too many wrong codes"


def _codes_on_page(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", html)


def _wrong_code(secret: str, around: int) -> str:
    valid = {code_at(secret, s) for s in range(around - 3, around + 4)}
    return next(c for c in ("123456", "654321", "111111", "909090", "246813") if c not in valid)


def _signed_in(client, slug: str) -> bool:
    return client.get(f"/t/{slug}/").status_code == 200


@pytest.fixture
def enrolled(web_app, frozen):
    """A tenant owner with TOTP enrolled under the frozen clock (last accepted step: STEP0 - 2)."""
    tenant = new_tenant(web_app)
    with in_app(web_app):
        user = db.session.get(User, tenant.owner.id)
        factories.enable_totp(user)
        codes = totp.new_recovery_codes(user)
        person = who(user)
    assert totp.current_step() == STEP0
    return tenant, person, codes


def test_enrolment_shows_a_qr_code_and_the_secret_then_stores_it_sealed_with_ten_recovery_codes(
        web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)

    page = web.get("/account/2fa/enrol")

    assert page.status_code == 200
    html = text(page)
    assert 'src="data:image/svg+xml' in html
    with web.session_transaction() as sess:
        secret = sess["enrol_secret"]
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert f'data-secret="{secret}"' in html and f">{secret}</code>" in html

    # A wrong code stores nothing.
    bad = web.post("/account/2fa/enrol", data={"code": _wrong_code(secret, STEP0)})
    assert bad.status_code == 422 and field_errors(text(bad), "code")
    with in_app(web_app, commit=False):
        assert db.session.get(User, tenant.owner.id).totp_secret_sealed is None

    done = web.post("/account/2fa/enrol", data={"code": code_at(secret, STEP0)})

    assert done.status_code == 200
    codes = _codes_on_page(text(done))
    assert len(codes) == 10 and len(set(codes)) == 10
    with in_app(web_app, commit=False):
        user = db.session.get(User, tenant.owner.id)
        assert user.has_totp
        sealed = user.totp_secret_sealed
        assert sealed and secret.encode() not in sealed and secret.lower().encode() not in sealed
        assert totp.secret_of(user) == secret
        assert user.totp_last_step == STEP0
        hashes = db.session.execute(
            sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
        ).scalars().all()
    assert len(hashes) == 10
    for code in codes:
        assert all(code not in h and code.replace("-", "") not in h for h in hashes)
    # Shown once: the account page only says how many are left.
    account = text(web.get("/account"))
    assert "10 recovery codes left" in account
    assert not any(code in account for code in codes)
    assert audit_events(web_app, "auth.2fa.enrolled")[0]["outcome"] == "success"


def test_the_code_that_confirmed_enrolment_cannot_sign_in(web_app, web, frozen):
    tenant = new_tenant(web_app)
    login_password(web, tenant.owner.email)
    web.get("/account/2fa/enrol")
    with web.session_transaction() as sess:
        secret = sess["enrol_secret"]
    assert web.post("/account/2fa/enrol", data={"code": code_at(secret, STEP0)}).status_code == 200
    logout(web)

    person = tenant.owner
    assert login_with_code(web, person, code_at(secret, STEP0)).status_code == 422
    assert login_with_code(web, person, code_at(secret, STEP0 + 1)).status_code == 302


def test_password_alone_does_not_sign_in_an_enrolled_account(web_app, web, enrolled):
    tenant, person, _ = enrolled
    first = login_password(web, person.email)
    assert first.status_code == 302 and location(first) == "/login/2fa"
    assert location(web.get(f"/t/{tenant.slug}/")).startswith("/login")


def test_a_code_is_accepted_at_most_once(web_app, web, enrolled):
    tenant, person, _ = enrolled
    code = code_at(person.secret, STEP0)

    assert login_with_code(web, person, code).status_code == 302
    assert _signed_in(web, tenant.slug)
    logout(web)

    again = login_with_code(web, person, code)  # same code, same step
    assert again.status_code == 422
    assert "already used" in field_errors(text(again), "code")[0]
    assert not _signed_in(web, tenant.slug)

    earlier = login_with_code(web, person, code_at(person.secret, STEP0 - 1))  # within the window, but older
    assert earlier.status_code == 422
    assert not _signed_in(web, tenant.slug)


def test_one_step_either_side_is_tolerated_and_two_are_not(web_app, web, enrolled):
    tenant, person, _ = enrolled  # last accepted step: STEP0 - 2

    assert login_with_code(web, person, code_at(person.secret, STEP0 + 2)).status_code == 422
    assert not _signed_in(web, tenant.slug)

    assert login_with_code(web, person, code_at(person.secret, STEP0 - 1)).status_code == 302
    assert _signed_in(web, tenant.slug)
    logout(web)

    assert login_with_code(web, person, code_at(person.secret, STEP0 + 1)).status_code == 302
    assert _signed_in(web, tenant.slug)
    logout(web)

    # STEP0 is within the window but not later than the last accepted step (STEP0 + 1).
    assert login_with_code(web, person, code_at(person.secret, STEP0)).status_code == 422


def test_five_wrong_codes_lock_two_factor_for_fifteen_minutes(web_app, web, enrolled, frozen, outbox):
    from tenantry.platform.notify import Notification

    tenant, person, _ = enrolled
    wrong = _wrong_code(person.secret, STEP0)
    login_password(web, person.email)
    for attempt in range(4):
        response = web.post("/login/2fa", data={"code": wrong})
        assert response.status_code == 422
        assert LOCK_MESSAGE not in text(response), attempt
    fifth = web.post("/login/2fa", data={"code": wrong})
    assert fifth.status_code == 422 and LOCK_MESSAGE in text(fifth)

    # Locked: the right code is refused too, from this sign-in and from a new one.
    right = web.post("/login/2fa", data={"code": code_at(person.secret, STEP0)})
    assert right.status_code == 422 and LOCK_MESSAGE in text(right)
    assert not _signed_in(web, tenant.slug)
    frozen.shift(timedelta(minutes=14, seconds=50))
    step = totp.current_step()
    assert login_with_code(web, person, code_at(person.secret, step)).status_code == 422
    assert not _signed_in(web, tenant.slug)

    [locked] = audit_events(web_app, "auth.2fa.locked")
    assert locked["actor_id"] == str(person.id) and locked["outcome"] == "failure"
    with in_app(web_app, commit=False):
        [note] = db.session.execute(
            sa.select(Notification).where(Notification.kind == "security.2fa-locked")
        ).scalars().all()
        assert note.user_id == person.id and note.to_email == person.email
        assert note.delivery_state == "sent" and note.sent_at is not None
    [mail] = outbox.to(person.email)
    assert "locked" in mail["Subject"].lower()
    assert "5 wrong two-factor codes" in mail.get_content()

    # Fifteen minutes after the lock, the right code signs in.
    frozen.shift(timedelta(seconds=11))
    step = totp.current_step()
    assert login_with_code(web, person, code_at(person.secret, step)).status_code == 302
    assert _signed_in(web, tenant.slug)


def test_four_wrong_codes_do_not_lock(web_app, web, enrolled):
    tenant, person, _ = enrolled
    login_password(web, person.email)
    for _ in range(4):
        web.post("/login/2fa", data={"code": _wrong_code(person.secret, STEP0)})
    assert web.post("/login/2fa", data={"code": code_at(person.secret, STEP0)}).status_code == 302
    assert audit_events(web_app, "auth.2fa.locked") == []


def test_a_recovery_code_signs_in_once(web_app, web, enrolled):
    tenant, person, codes = enrolled

    first = login_with_code(web, person, codes[0])
    assert first.status_code == 302
    assert _signed_in(web, tenant.slug)
    logout(web)

    assert login_with_code(web, person, codes[0]).status_code == 422
    assert not _signed_in(web, tenant.slug)
    # Typed without the dash, in capitals: still a recovery code.
    assert login_with_code(web, person, codes[1].replace("-", "").upper()).status_code == 302
    with in_app(web_app, commit=False):
        assert totp.recovery_codes_left(db.session.get(User, person.id)) == 8


def test_new_recovery_codes_need_the_password_and_replace_the_old_ones(web_app, web, enrolled, frozen):
    tenant, person, old = enrolled
    assert login_with_code(web, person, code_at(person.secret, STEP0)).status_code == 302

    refused = web.post("/account/2fa/recovery-codes", data={"regen-password": "not-my-password-77"})
    assert refused.status_code == 302 and location(refused) == "/account"
    assert _codes_on_page(text(refused)) == []
    assert audit_events(web_app, "auth.2fa.recovery-codes")[-1]["outcome"] == "failure"
    logout(web)
    assert login_with_code(web, person, old[0]).status_code == 302  # the old codes still work

    made = web.post("/account/2fa/recovery-codes", data={"regen-password": factories.PASSWORD})
    assert made.status_code == 200
    new = _codes_on_page(text(made))
    assert len(new) == 10 and not set(new) & set(old)
    logout(web)

    assert login_with_code(web, person, old[1]).status_code == 422
    assert login_with_code(web, person, new[0]).status_code == 302


def test_a_member_can_enrol_from_a_tenant_that_does_not_require_it(web_app, web, frozen):
    tenant = new_tenant(web_app)
    member = new_member(web_app, tenant, "viewer")
    login_password(web, member.email)
    assert web.get("/account/2fa/enrol").status_code == 200


def test_the_second_step_must_follow_the_password_within_five_minutes(web_app, web, enrolled, frozen):
    tenant, person, _ = enrolled
    login_password(web, person.email)
    frozen.shift(timedelta(seconds=301))
    response = web.post("/login/2fa", data={"code": code_at(person.secret, totp.current_step())})
    assert response.status_code == 302 and location(response) == "/login"
    assert not _signed_in(web, tenant.slug)


def test_the_second_step_without_a_password_step_goes_back_to_sign_in(web_app, web, enrolled):
    tenant, person, _ = enrolled
    response = web.post("/login/2fa", data={"code": code_at(person.secret, STEP0)})
    assert response.status_code == 302 and location(response) == "/login"
    assert not _signed_in(web, tenant.slug)


def test_replacing_the_authenticator_needs_re_authentication(web_app, web, enrolled):
    _tenant, person, _ = enrolled
    assert login_with_code(web, person, code_at(person.secret, STEP0)).status_code == 302
    web.get("/account/2fa/enrol")
    with web.session_transaction() as sess:
        new_secret = sess["enrol_secret"]

    web.post("/account/2fa/enrol", data={"code": code_at(new_secret, STEP0 + 1)})

    with in_app(web_app, commit=False):
        assert totp.secret_of(db.session.get(User, person.id)) == person.secret


def test_a_code_with_digits_that_are_not_ascii_is_a_wrong_code_not_a_500(web_app, web, enrolled):
    """str.isdigit() takes "²" and "٣"; hmac.compare_digest refuses non-ASCII text."""
    tenant, person, _ = enrolled
    for odd in ("12345²", "١٢٣٤٥٦", code_at(person.secret, STEP0)[:5] + "²"):
        answer = login_with_code(web, person, odd)
        assert answer.status_code == 422, odd
        assert not _signed_in(web, tenant.slug)
