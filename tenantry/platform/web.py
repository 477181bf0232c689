"""Web plumbing shared by every area: extensions, security headers, errors, and tenant URLs."""

from __future__ import annotations

import functools
import types
from datetime import timedelta
from inspect import iscoroutinefunction
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BuildError

from tenantry.platform import cli, cron, crypto, jobs, storage, tenancy
from tenantry.platform.config import Settings
from tenantry.platform.crypto import providers
from tenantry.platform.db import db, ping_when_idle
from tenantry.platform.extensions import csrf, limiter, login_manager, migrate
from tenantry.platform.json_responses import JSONProvider


class App(Flask):
    """Flask, remembering which functions are plain `def`s. Flask asks `ensure_sync` of every
    hook and view on every request, and each answer took several calls of `inspect`: with our
    sixteen hooks, a few percent of an API read (bench/crm.py, issue 3). Coroutine functions
    and anything but a plain function (a bound method is a new object each time) are asked anew."""

    _KEEP = 4096  # functions registered at start-up; a bound keeps a misuse from growing it
    json_provider_class = JSONProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_functions: set[types.FunctionType] = set()

    def ensure_sync(self, func):
        plain = type(func) is types.FunctionType
        if plain and func in self._plain_functions:
            return func
        if iscoroutinefunction(func):
            return self.async_to_sync(func)
        if plain and len(self._plain_functions) < self._KEEP:
            self._plain_functions.add(func)
        return func


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
# Every answer of the API carries a tenant's data or a token: never kept by a cache.
NO_STORE_BLUEPRINTS = frozenset({"api", "oauth"})
# Authenticated by a bearer token alone: no session cookie, no remember-me cookie, and
# limited per client (api.rate_limit), not by Flask-Limiter's per-address limits.
BEARER_BLUEPRINTS = frozenset({"api"})


def flask_config(settings: Settings) -> dict[str, Any]:
    secure = settings.base_url.startswith("https://")
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SESSION_COOKIE_NAME": "tenantry_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings.session_max_hours),
        "PREFERRED_URL_SCHEME": "https" if secure else "http",
        "WTF_CSRF_TIME_LIMIT": settings.session_max_hours * 3600,
        "RATELIMIT_STORAGE_URI": settings.redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: each process counts in memory until it answers again, rather than every
        # rate-limited route (sign-in, the token endpoint) failing with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
        "TEMPLATES_AUTO_RELOAD": settings.env == "development",
    }


def init_app(app: Flask, settings: Settings) -> None:
    from tenantry.platform import audit, notify  # noqa: F401  (audit's model belongs to the schema)

    app.extensions["tenantry.settings"] = settings
    app.extensions["tenantry.key_provider"] = providers.from_settings(settings)
    app.extensions["tenantry.storage"] = storage.from_settings(settings)
    crypto.init_app(app)
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are server-side rows; see identity.sessions
    csrf.init_app(app)
    limiter.init_app(app)
    _spare_bearer_requests(app)
    app.session_interface = SessionCookies()
    jobs.init_app(app)
    cron.register(app, "notices", lambda as_of: notify.retry_due(now=as_of))
    audit.init_app(app)
    app.cli.add_command(cli.tenantry_cli)

    @app.before_request
    def _no_tenant_yet():
        g.tenant_token = None

    @app.teardown_request
    def _leave_tenant(_exc):
        token = g.pop("tenant_token", None)
        if token is not None:
            tenancy.deactivate(token)

    @app.after_request
    def _security_headers(response):
        h = response.headers
        present = {name.lower() for name in h.keys()}  # one pass: each setdefault would scan them all
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                h.add(name, value)
        if request.is_secure and "strict-transport-security" not in present:
            h.add("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if "cache-control" not in present and (
                request.blueprint in NO_STORE_BLUEPRINTS
                or (current_user and getattr(current_user, "is_authenticated", False))):
            h.add("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return error_response(400, "csrf", "The form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(StaleDataError)
    def _changed_meanwhile(_exc):
        # A versioned row written by another request between this one's read and its write
        # (crm/versions.py): refused rather than written over; edit forms show the difference.
        db.session.rollback()
        return error_response(409, "edit_conflict", "Someone else changed this at the same moment, so nothing "
                                                    "was saved. Reload the page and try again.")

    def _unavailable(exc, code: str, message: str, retry_after: int = 60):
        app.logger.warning("%s: %s", code, exc)
        try:
            db.session.rollback()
        except sa_exc.DBAPIError:  # the connection itself is what failed
            db.session.remove()
        response = make_response(error_response(503, code, message))
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(storage.StorageUnavailable)
    def _storage_unavailable(exc):
        return _unavailable(exc, "storage_unavailable", "File storage does not answer right now; nothing was lost. "
                                                        "Try again in a few minutes.")

    @app.errorhandler(sa_exc.OperationalError)
    def _database_unavailable(exc):
        # Refused or lost connections, and a deadlock or lock timeout PostgreSQL broke: the
        # transaction is gone whole, so nothing was half-written, and trying again is the answer.
        return _unavailable(exc, "database_unavailable", "The database did not answer, or was too busy to finish; "
                                                         "nothing was saved. Try again in a moment.", retry_after=5)

    @app.errorhandler(providers.KeyProviderUnavailable)
    def _keys_unavailable(exc):
        # Every personal value is encrypted: without the key service no page can show one.
        return _unavailable(exc, "keys_unavailable", "The encryption key service does not answer right now; "
                                                     "nothing was lost. Try again in a few minutes.")

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = exc.code or 500
        message = exc.description or exc.name
        if not wants_json() and exc.description == type(exc).description:  # Werkzeug's wording: ours instead
            message = HTTP_MESSAGES.get(code, message)
        return error_response(code, exc.name.lower().replace(" ", "_"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        app.logger.exception("unhandled error")
        db.session.rollback()
        return error_response(500, "internal_error", "Something went wrong on our side; nothing was saved.")

    @app.context_processor
    def _template_globals():
        return {
            "current_tenant": tenancy.get_current_tenant(),
            "membership": g.get("membership"),
            "tenant_nav": app.extensions.get("tenantry.tenant_nav", []),
        }


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its serializer made once per set of keys rather
    than twice per request (open and save)."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, Any] = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer


def _spare_bearer_requests(app: Flask) -> None:
    """Flask-Login's remember-me cookie and Flask-Limiter's per-address limits run on every
    request of the app, but have nothing to do on a bearer-token endpoint: it has no cookies,
    and Flask-Limiter is told to exempt it. Still, deciding that took them about 5% of an API
    detail read's CPU (cProfile, in-process). Their hooks now return at once on those
    endpoints.

    The hooks are found among the app's by identity; a release of either library that
    registers them differently stops the app here rather than leave them running."""
    release = limiter._Limiter__release_context
    wanted = (
        ("before", app.before_request_funcs, lambda f: f == limiter._check_request_limit),
        ("after", app.after_request_funcs, lambda f: f == login_manager._update_remember_cookie),
        ("after", app.after_request_funcs, lambda f: isinstance(f, functools.partial) and f.args[:1] == (limiter,)),
        ("teardown", app.teardown_request_funcs, lambda f: f == release),
    )
    for kind, registry, match in wanted:
        hooks = registry.setdefault(None, [])
        at = [i for i, f in enumerate(hooks) if match(f)]
        if len(at) != 1:
            raise RuntimeError(f"expected one {kind}-request hook of Flask-Login or Flask-Limiter here, found "
                               f"{len(at)}: were they upgraded?")
        hooks[at[0]] = _unless_bearer(hooks[at[0]], kind)


def _unless_bearer(hook, kind: str):
    if kind == "before":
        def browser_only():
            return None if request.blueprint in BEARER_BLUEPRINTS else hook()
    elif kind == "after":
        def browser_only(response):
            return response if request.blueprint in BEARER_BLUEPRINTS else hook(response)
    else:
        def browser_only(exc):
            if request.blueprint not in BEARER_BLUEPRINTS:
                hook(exc)
    return browser_only


def _migrations_dir():
    from pathlib import Path

    # A source checkout keeps migrations/ beside the package; an installed image runs from /app.
    beside = Path(__file__).resolve().parents[2] / "migrations"
    return beside if beside.is_dir() else Path.cwd() / "migrations"


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/oauth/")) or (
        request.accept_mimetypes.best == "application/json" and not request.accept_mimetypes.accept_html
    )


def json_error(status: int, code: str, message: str, fields: dict[str, Any] | None = None):
    # Always the same three keys, so API clients can rely on "fields" being an object.
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    return jsonify({"error": body}), status


# An error page's own words for the statuses raised without a message of their own (abort(404));
# a message given (abort(403, "Your role ...")) is shown as it is. The API answers with
# Werkzeug's, unchanged.
HTTP_MESSAGES = {
    400: "The request could not be understood. Go back, reload the page and try again.",
    401: "Please sign in to continue.",
    403: "You do not have access to this page.",
    404: "This page or record does not exist, or it was deleted.",
    405: "This address cannot be opened by itself: it is where a form sends. Go back to the page of the form.",
    413: "What was sent is too large. Send a smaller file.",
    429: "Too many attempts in a short time. Wait a minute, then try again.",
    503: "Tenantry is unavailable for a moment; nothing was lost. Try again in a few minutes.",
}


def error_response(status: int, code: str, message: str):
    if wants_json():
        return json_error(status, code, message)
    return render_template("error.html", status=status, message=message, ways=_ways_on(status)), status


def _ways_on(status: int) -> list[tuple[str, str, str]]:
    """Where an error page leads, best first, as (kind, label, address): the same address again
    when it was unavailable ("again"), the section above a record not found (a contact's page:
    Contacts, "section": its label in the workspace's terms), and the workspace the address is
    in, when the person is in it ("workspace": its name); else none (the page offers the start)."""
    ways = []
    if status == 503 and request.method == "GET":
        ways.append(("again", "Try again", request.full_path.rstrip("?")))
    workspace = _workspace_of_request(look_up=status != 503)  # unavailable: the database may be what failed
    if workspace is not None:
        slug, name = workspace
        root = f"/t/{slug}/"
        section = _section_above(root) if status in (403, 404, 405) else None
        if section is not None:
            ways.append(("section", *section))
        ways.append(("workspace", name, root))
    return ways


def _workspace_of_request(*, look_up: bool) -> tuple[str, str] | None:
    """The slug and name of the workspace the address is in (/t/<slug>/...), if the person signed
    in is in it: the one resolved already, or else looked up (never revealing a workspace they
    are not in: the address is the one they asked for)."""
    tenant = tenancy.get_current_tenant()
    if tenant is not None:  # resolved, and refused if the person is not in it (tenant_blueprint)
        inside = g.get("membership") is not None and request.path.startswith(f"/t/{tenant.slug}/")
        return (tenant.slug, tenant.name) if inside else None
    parts = request.path.split("/")
    if not look_up or len(parts) < 3 or parts[1] != "t" or not parts[2]:
        return None
    if not getattr(current_user, "is_authenticated", False) or current_user.is_staff:
        return None
    from tenantry.platform.identity import policy

    try:
        with tenancy.all_tenants():  # before any workspace is entered: the person's own membership
            tenant = tenancy.get_by_slug(parts[2])
            if tenant is None or tenant.status == tenancy.TenantStatus.DELETED:
                return None
            return (tenant.slug, tenant.name) if policy.membership_for(current_user, tenant) is not None else None
    except sa_exc.SQLAlchemyError:
        db.session.rollback()
        return None


def _section_above(root: str) -> tuple[str, str] | None:
    """The workspace's section (its sidebar link: label, address) whose address the failed one
    continues, e.g. Contacts for /t/<slug>/crm/contacts/<id>; None when it is below none."""
    path = request.script_root + request.path
    slug = root.split("/")[2]
    best = None
    for _order, endpoint, label, _role in current_app.extensions.get("tenantry.tenant_nav", []):
        try:
            url = url_for(endpoint, slug=slug)
        except BuildError:  # a section that needs more than the workspace to be named
            continue
        if url.rstrip("/") != root.rstrip("/") and path.startswith(url.rstrip("/") + "/") and (
                best is None or len(url) > len(best[1])):
            best = (label, url)
    return best


def tenant_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    """A blueprint under /t/<slug>/: the tenant is resolved once per request into current_tenant.

    Unknown slugs and tenants the signed-in user is not a member of both answer 404, so a
    tenant's existence is not revealed. The tenant's security policy is enforced here.
    """
    bp = Blueprint(name, import_name, url_prefix="/t/<slug>", **kwargs)

    @bp.url_defaults
    def _add_slug(endpoint, values):
        if "slug" not in values and tenancy.get_current_tenant() is not None:
            values["slug"] = tenancy.current_tenant.slug

    @bp.url_value_preprocessor
    def _pull_slug(endpoint, values):
        g.tenant_slug = values.pop("slug", None) if values else None

    @bp.before_request
    def _enter_tenant():
        from tenantry.platform.identity import policy

        tenant = tenancy.get_by_slug(g.get("tenant_slug") or "")
        if tenant is None or tenant.status == tenancy.TenantStatus.DELETED:
            abort(404)
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        g.tenant_token = tenancy.activate(tenant)
        if current_user.is_staff:
            # Staff enter a workspace only through a live grant of that tenant [DPA-4.3.2]. The
            # hook (registered by the support-access area) is asked on every request, so expiry
            # or revocation ends access mid-session; without it staff see nothing here.
            access = current_app.extensions.get("tenantry.staff_tenant_access")
            membership = access(current_user, tenant) if access is not None else None
        else:
            membership = policy.membership_for(current_user, tenant)
        if membership is None:
            abort(404)
        g.membership = membership
        redirect_to = None if current_user.is_staff else policy.enforce_for_tenant(current_user, tenant)
        if redirect_to is not None:
            return redirect_to
        for gate in current_app.extensions.get("tenantry.tenant_gates", []):
            response = gate(tenant, membership)
            if response is not None:
                return response
        return None

    return bp


def add_tenant_nav(app: Flask, endpoint: str, label: str, role: str = "viewer", order: int = 50) -> None:
    """A link in the tenant sidebar; each area adds its own pages (shown from `role` up)."""
    items = app.extensions.setdefault("tenantry.tenant_nav", [])
    if not any(item[1] == endpoint for item in items):
        items.append((order, endpoint, label, role))
        items.sort()


def add_dashboard_panel(app: Flask, template: str, context, order: int = 50) -> None:
    """A panel on the workspace dashboard, above the workspace's own cards: `context()` gives
    the template's variables (and records any read of personal data it shows)."""
    panels = app.extensions.setdefault("tenantry.dashboard_panels", [])
    if not any(panel[1] == template for panel in panels):
        panels.append((order, template, context))
        panels.sort(key=lambda panel: panel[:2])


def add_tenant_gate(app: Flask, gate) -> None:
    """A check run on every tenant page after membership and policy (areas above the platform
    use it, e.g. "the agreement must be concluded first"); it returns a response to stop."""
    app.extensions.setdefault("tenantry.tenant_gates", []).append(gate)


def require_role(role: str):
    """Views under a tenant blueprint that need at least `role` (viewer < member < admin < owner)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            membership = g.get("membership")
            if membership is None or not membership.can(role):
                abort(403, "Your role in this workspace does not allow this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
