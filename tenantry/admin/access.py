"""Staff-only blueprints: signed in as staff, two-factor always, and the role each page needs."""

from __future__ import annotations

import functools

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user


def staff_gate():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.staff_login", next=request.full_path.rstrip("?")))
    if not current_user.is_staff:
        abort(404)
    if not current_user.has_totp:
        return redirect(url_for("auth.enrol_2fa", required=1, next=request.full_path.rstrip("?")))
    return None


def staff_blueprint(name: str, import_name: str, url_prefix: str = "/admin", **kwargs) -> Blueprint:
    """A blueprint under /admin whose every page passes `staff_gate` first."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix, **kwargs)
    bp.before_request(staff_gate)
    return bp


def require_staff_role(*roles: str):
    """Least privilege for staff [TT-least-privilege]: a page names the staff roles allowed."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403, "Your staff role does not allow this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
