"""Sign-in, set-up links, TOTP enrolment and the account page, for tenant users and staff alike."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from tenantry.platform import audit, clock, notify
from tenantry.platform.db import db
from tenantry.platform.extensions import limiter
from tenantry.platform.identity import forms, login, passwords, policy, sessions, tokens, totp
from tenantry.platform.identity.models import StaffUser, User

bp = Blueprint("auth", __name__)


def _rate() -> str:
    return current_app.extensions["tenantry.settings"].ratelimit_login


def _account_key() -> str:
    return "acct:" + login.normalise_email(request.form.get("email", ""))


def _pending_key() -> str:
    data = session.get("pending_2fa") or {}
    return "2fa:" + str(data.get("id", request.remote_addr))


def _kind(principal) -> str:
    return "staff" if principal.is_staff else "user"


def landing_for(principal, next_url: str | None = None) -> str:
    if next_url := login.safe_next(next_url):
        return next_url
    if principal.is_staff:
        return "/admin/"
    tenants = policy.tenants_of(principal)
    if len(tenants) == 1:
        return f"/t/{tenants[0][0].slug}/"
    return url_for("auth.workspaces")


def _after_login(principal, next_url: str | None):
    rules = policy.policy_for(principal)
    if rules.require_2fa and not principal.has_totp:
        flash("Your workspace requires two-factor authentication. Set it up to continue.", "info")
        return redirect(url_for("auth.enrol_2fa", next=login.safe_next(next_url), required=1))
    if policy.password_expired(principal, rules):
        flash("Your password has expired. Choose a new one to continue.", "info")
        return redirect(url_for("auth.change_password", next=login.safe_next(next_url), expired=1))
    return redirect(landing_for(principal, next_url))


def _password_step(kind: str, template: str):
    if current_user.is_authenticated and _kind(current_user) == kind:
        return redirect(landing_for(current_user, request.args.get("next")))
    form = forms.LoginForm()
    next_url = login.safe_next(request.args.get("next"))
    if form.validate_on_submit():
        principal = login.check_password(kind, form.email.data, form.password.data)
        if principal is None:
            form.password.errors.append("The e-mail or the password is not right.")
        elif principal.has_totp:
            db.session.commit()
            login.set_pending(kind, principal, next_url)
            return redirect(url_for("auth.two_factor"))
        else:
            sessions.start(principal)
            audit.record(f"auth.{kind}.login", actor=principal, details={"second_factor": False})
            db.session.commit()
            return _after_login(principal, next_url)
    return render_template(template, form=form, next=next_url), (200 if not form.errors else 422)


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
@limiter.limit(_rate, methods=["POST"])
@limiter.limit(_rate, key_func=_account_key, methods=["POST"])
def login_view():
    return _password_step("user", "auth/login.html")


@bp.route("/admin/login", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"])
@limiter.limit(_rate, key_func=_account_key, methods=["POST"])
def staff_login():
    return _password_step("staff", "auth/staff_login.html")


@bp.route("/login/2fa", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"])
@limiter.limit(_rate, key_func=_pending_key, methods=["POST"])
def two_factor():
    data, principal = login.pending()
    if principal is None:
        session.pop("pending_2fa", None)
        flash("Your sign-in took too long. Please start again.", "info")
        return redirect(url_for("auth.login"))
    form = forms.CodeForm()
    locked = totp.is_locked(principal)
    if form.validate_on_submit() and not locked:
        result = totp.verify(principal, form.code.data)
        if result in (totp.Result.OK, totp.Result.RECOVERY):
            next_url = data.get("next")
            sessions.start(principal)
            audit.record(f"auth.{data['kind']}.login", actor=principal,
                         details={"second_factor": "recovery-code" if result == totp.Result.RECOVERY else "totp"})
            db.session.commit()
            if result == totp.Result.RECOVERY:
                left = totp.recovery_codes_left(principal)
                flash(f"You used a recovery code; {left} remain. Generate new ones on your account page.", "info")
            return _after_login(principal, next_url)
        audit.record("auth.2fa.verify", actor=principal, outcome="failure", details={"result": str(result)})
        db.session.commit()
        locked = result == totp.Result.LOCKED
        if not locked:
            form.code.errors.append("That code is not right, or it was already used. Try the next one.")
    if locked:
        form.code.errors.append(
            "Too many wrong codes. Two-factor sign-in is locked for 15 minutes; we have e-mailed you."
        )
    return render_template("auth/two_factor.html", form=form, locked=locked), (200 if not form.errors else 422)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        staff = current_user.is_staff
        audit.record(f"auth.{_kind(current_user)}.logout", actor=current_user)
        sessions.end(current_user)
        db.session.commit()
        flash("You have signed out.", "info")
        return redirect(url_for("auth.staff_login" if staff else "auth.login"))
    return redirect(url_for("auth.login"))


RESET_LINK_HOURS = 1


@bp.route("/login/forgot", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"])
@limiter.limit(_rate, key_func=_account_key, methods=["POST"])
def forgot_password():
    """A one-time link to choose a new password, e-mailed to a workspace user's address. The
    page says the same whether or not the address has an account, so it tells no one who has
    one. Staff accounts are reset by another administrator (admin console), not here."""
    form = forms.ForgotPasswordForm()
    if form.validate_on_submit():
        user = login.find("user", form.email.data)
        if user is not None and user.active:
            link = tokens.issue_setup_link(user, purpose=tokens.RESET, hours=RESET_LINK_HOURS)
            notify.create("auth.password_reset", recipient=user, subject="Choose a new Tenantry password", body=(
                f"Someone (we hope you) asked to choose a new password for {user.email} on Tenantry.\n\n"
                f"Choose it here (the link works once, for {RESET_LINK_HOURS} hour):\n{link}\n\n"
                "If it was not you, ignore this e-mail: your password stays as it is. Two-factor "
                "authentication, if you use it, is still asked for at sign-in."))
            audit.record("auth.password.reset_requested", actor=user)  # the event keeps the address itself
            db.session.commit()
        return render_template("auth/forgot_sent.html", email=form.email.data.strip(), hours=RESET_LINK_HOURS)
    return render_template("auth/forgot.html", form=form), (200 if not form.errors else 422)


def _reset(row, principal):
    """A reset link: the new password, every session of the account ended, and no session
    started: the person signs in with it, two-factor included, as on any other day."""
    rules = policy.policy_for(principal)
    form = forms.NewPasswordForm()
    if form.validate_on_submit():
        issues = passwords.problems(form.password.data, min_length=rules.min_length,
                                    user_inputs=[principal.email, principal.name or ""])
        if issues:
            form.password.errors.extend(issues)
        else:
            login.set_password(principal, form.password.data)
            row.used_at = clock.now()
            ended = sessions.end_others(principal, "password reset")
            audit.record(f"auth.{_kind(principal)}.password_reset", actor=principal, details={"sessions_ended": ended})
            notify.create("auth.password_changed", recipient=principal, subject="Your Tenantry password was changed",
                          body=(f"The password of {principal.email} on Tenantry was changed through a reset link, "
                                f"and every session signed in with the old one was ended.\n\nIf it was not you, "
                                "tell your workspace's owner or administrator at once."))
            db.session.commit()
            flash("Your new password is saved. Sign in with it.", "success")
            return redirect(url_for("auth.staff_login" if principal.is_staff else "auth.login"))
    return render_template("auth/reset.html", form=form, principal=principal, rules=rules), (
        200 if not form.errors else 422
    )


@bp.route("/setup/<token>", methods=["GET", "POST"])
def setup(token: str):
    """One-time link: the person chooses their password (and staff then enrol TOTP)."""
    row = tokens.find_setup_token(token)
    if row is None:
        return render_template("auth/setup_invalid.html"), 404
    principal = db.session.get(StaffUser if row.staff_id else User, row.staff_id or row.user_id)
    if principal is None:
        abort(404)
    if row.purpose == tokens.RESET:
        if not principal.active:
            return render_template("auth/setup_invalid.html"), 404
        return _reset(row, principal)
    rules = policy.policy_for(principal)
    form = forms.SetupForm(name=principal.name)
    if form.validate_on_submit():
        issues = passwords.problems(form.password.data, min_length=rules.min_length,
                                    user_inputs=[principal.email, form.name.data])
        if issues:
            form.password.errors.extend(issues)
        else:
            principal.name = form.name.data.strip()
            login.set_password(principal, form.password.data)
            row.used_at = clock.now()
            sessions.end_others(principal, "password set")
            sessions.start(principal)
            audit.record(f"auth.{_kind(principal)}.setup", actor=principal)
            db.session.commit()
            if principal.is_staff or rules.require_2fa:
                return redirect(url_for("auth.enrol_2fa", required=1))
            return redirect(landing_for(principal))
    return render_template("auth/setup.html", form=form, principal=principal, rules=rules), (
        200 if not form.errors else 422
    )


@bp.route("/workspaces")
@login_required
def workspaces():
    if current_user.is_staff:
        return redirect("/admin/")
    return render_template("auth/workspaces.html", tenants=policy.tenants_of(current_user))


@bp.route("/account")
@login_required
def account():
    return render_template(
        "auth/account.html",
        sessions=sessions.active_sessions(current_user),
        codes_left=totp.recovery_codes_left(current_user) if current_user.has_totp else 0,
        rules=policy.policy_for(current_user),
        regen_form=forms.ConfirmPasswordForm(prefix="regen"),
        disable_form=forms.DisableTotpForm(prefix="disable"),
    )


@bp.route("/account/2fa/enrol", methods=["GET", "POST"])
@login_required
def enrol_2fa():
    form = forms.EnrolForm()
    secret = session.get("enrol_secret")
    if request.method == "GET" or not secret:
        secret = totp.new_secret()
        session["enrol_secret"] = secret
    uri = totp.provisioning_uri(secret, current_user.email)
    if form.validate_on_submit() and current_user.has_totp and not _reauthenticated(form):
        db.session.commit()  # failed codes count towards the lock-out
    elif form.validate_on_submit():
        step = totp.matching_step(secret, form.code.data, 0)
        if step is None:
            form.code.errors.append("That code does not match. Check the time on your phone and try the next code.")
        else:
            replacing = current_user.has_totp
            codes = totp.enable(current_user, secret, step)
            session.pop("enrol_secret", None)
            ended = sessions.end_others(current_user, "2fa secret changed")
            audit.record("auth.2fa.enrolled", actor=current_user, details={"replaced": replacing, "ended_sessions": ended})
            db.session.commit()
            return render_template("auth/recovery_codes.html", codes=codes,
                                   next=login.safe_next(request.args.get("next")) or landing_for(current_user))
    return render_template(
        "auth/enrol.html", form=form, secret=secret, qr=totp.qr_svg_data_uri(uri), uri=uri,
        required=bool(request.args.get("required")),
    ), (200 if not form.errors else 422)


def _reauthenticated(form) -> bool:
    ok = True
    if not passwords.verify_password(current_user.password_hash, form.current_password.data or ""):
        form.current_password.errors.append("Your password is not right.")
        ok = False
    result = totp.verify(current_user, form.current_code.data or "", allow_recovery=False)
    if result != totp.Result.OK:
        form.current_code.errors.append(
            "Two-factor is locked for 15 minutes." if result == totp.Result.LOCKED
            else "Enter the current code from the authenticator you are replacing."
        )
        ok = False
    if not ok:
        audit.record("auth.2fa.replace", actor=current_user, outcome="failure")
    return ok


@bp.route("/account/2fa/recovery-codes", methods=["POST"])
@login_required
def recovery_codes():
    form = forms.ConfirmPasswordForm(prefix="regen")
    if not current_user.has_totp:
        abort(400, "Set up two-factor authentication first.")
    if form.validate_on_submit() and passwords.verify_password(current_user.password_hash, form.password.data):
        codes = totp.new_recovery_codes(current_user)
        audit.record("auth.2fa.recovery-codes", actor=current_user)
        db.session.commit()
        return render_template("auth/recovery_codes.html", codes=codes, next=url_for("auth.account"))
    audit.record("auth.2fa.recovery-codes", actor=current_user, outcome="failure")
    db.session.commit()
    flash("Your password was not right; no new codes were made.", "error")
    return redirect(url_for("auth.account"))


@bp.route("/account/2fa/disable", methods=["POST"])
@login_required
def disable_2fa():
    form = forms.DisableTotpForm(prefix="disable")
    if policy.policy_for(current_user).require_2fa:
        flash("Two-factor authentication is required for you and cannot be turned off.", "error")
        return redirect(url_for("auth.account"))
    if (form.validate_on_submit() and passwords.verify_password(current_user.password_hash, form.password.data)
            and totp.verify(current_user, form.code.data, allow_recovery=False) == totp.Result.OK):
        totp.disable(current_user)
        sessions.end_others(current_user, "2fa removed")
        audit.record("auth.2fa.disabled", actor=current_user)
        db.session.commit()
        flash("Two-factor authentication is off.", "info")
    else:
        db.session.commit()
        flash("The password or the code was not right; two-factor authentication stays on.", "error")
    return redirect(url_for("auth.account"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = forms.ChangePasswordForm()
    rules = policy.policy_for(current_user)
    if form.validate_on_submit():
        if not passwords.verify_password(current_user.password_hash, form.current.data):
            form.current.errors.append("Your current password is not right.")
        elif form.password.data == form.current.data:
            form.password.errors.append("Choose a password different from the current one.")
        else:
            issues = passwords.problems(form.password.data, min_length=rules.min_length,
                                        user_inputs=[current_user.email, current_user.name])
            if issues:
                form.password.errors.extend(issues)
            else:
                login.set_password(current_user, form.password.data)
                ended = sessions.end_others(current_user, "password changed")
                audit.record("auth.password.changed", actor=current_user, details={"ended_sessions": ended})
                db.session.commit()
                flash("Your password is changed. Your other sessions have been signed out.", "info")
                return redirect(landing_for(current_user, request.args.get("next")))
    return render_template("auth/change_password.html", form=form, rules=rules,
                           expired=bool(request.args.get("expired"))), (200 if not form.errors else 422)


@bp.route("/account/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    ended = sessions.end_others(current_user, "ended by user")
    audit.record("auth.sessions.ended", actor=current_user, details={"count": ended})
    db.session.commit()
    flash(f"Signed out {ended} other session(s).", "info")
    return redirect(url_for("auth.account"))


_OPEN_ENDPOINTS = {"auth.change_password", "auth.logout", "auth.enrol_2fa", "static", "home"}
_BEARER_BLUEPRINTS = frozenset({"api", "oauth"})


@bp.before_app_request
def _password_age_gate():
    """An expired password must be changed before anything else."""
    if request.blueprint in _BEARER_BLUEPRINTS:
        return None  # a token's request: no signed-in person (and their cookie is not even read)
    if not current_user.is_authenticated or request.endpoint in _OPEN_ENDPOINTS or current_user.is_staff:
        return None
    if policy.password_expired(current_user):
        return redirect(url_for("auth.change_password", next=request.full_path.rstrip("?"), expired=1))
    return None


def home():
    if current_user.is_authenticated:
        return redirect(landing_for(current_user))
    return render_template("home.html")
