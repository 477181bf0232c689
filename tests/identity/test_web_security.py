"""Cookies, security headers, CSRF and sign-in rate limits."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest

from tenantry.platform.db import db
from tenantry.platform.identity.models import AuthSession, User
from tests import factories
from tests.factories import PASSWORD
from tests.identity.support import (
    STEP0,
    code_at,
    count,
    in_app,
    location,
    login_password,
    new_member,
    new_tenant,
    text,
    who,
)

COOKIE = "tenantry_session"


def _session_cookie_header(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    assert headers, response.headers
    return headers[-1]


def _attrs(set_cookie: str) -> dict[str, str]:
    out = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        out[name.lower()] = value
    return out


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for chunk in policy.split(";"):
        words = chunk.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


# --- cookies ------------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.tls")
def test_session_cookie_is_httponly_and_lax_and_not_secure_on_plain_http_base_url(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, TENANTRY_BASE_URL="http://127.0.0.1:5000")
    tenant = new_tenant(app)
    response = login_password(app.test_client(), tenant.owner.email)
    attrs = _attrs(_session_cookie_header(response))
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "lax"
    assert "secure" not in attrs


@pytest.mark.obligation("DPA-B.tls")
def test_session_cookie_is_secure_when_the_base_url_is_https(make_app):
    app = make_app(WTF_CSRF_ENABLED=False, TENANTRY_BASE_URL="https://crm.example.com")
    tenant = new_tenant(app)
    response = login_password(app.test_client(), tenant.owner.email, base_url="https://crm.example.com")
    attrs = _attrs(_session_cookie_header(response))
    assert "secure" in attrs and "httponly" in attrs and attrs["samesite"].lower() == "lax"


# --- headers ------------------------------------------------------------------------------


@pytest.mark.obligation("DPA-B.tls")
def test_security_headers_on_public_signed_in_and_error_pages(web_app, web):
    tenant = new_tenant(web_app)
    responses = [web.get("/login"), web.get("/signup"), web.get("/no-such-page")]
    login_password(web, tenant.owner.email)
    responses.append(web.get(f"/t/{tenant.slug}/"))
    for response in responses:
        csp = _csp(response)
        assert csp["script-src"] == ["'self'"], response.request.path
        assert "'unsafe-inline'" not in csp.get("script-src", []) + csp.get("default-src", [])
        assert csp["frame-ancestors"] == ["'none'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] in {"same-origin", "strict-origin-when-cross-origin", "no-referrer"}
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers  # plain http
    assert responses[-1].headers["Cache-Control"] == "no-store"


@pytest.mark.obligation("DPA-B.tls")
def test_hsts_only_on_https_requests(web):
    secure = web.get("/login", base_url="https://localhost")
    hsts = secure.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000
    assert "Strict-Transport-Security" not in web.get("/login").headers


# --- CSRF ---------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Every <form method="post"> of a page with the names and values of its inputs."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._open = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._open = {"action": a.get("action"), "inputs": {}}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None:
            self._open["inputs"][a.get("name")] = a.get("value")

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def _post_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def _csrf(form: dict) -> str | None:
    return next((v for k, v in form["inputs"].items() if k and k.endswith("csrf_token")), None)


def test_csrf_is_enforced_on_sign_in(make_app):
    app = make_app()  # CSRF on, as in production
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    tenant = new_tenant(app)
    client = app.test_client()

    refused = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD})

    assert refused.status_code == 400
    assert "The form expired or was sent from elsewhere" in text(refused)
    assert count(app, AuthSession) == 0
    assert location(client.get(f"/t/{tenant.slug}/")).startswith("/login")

    # A wrong token is refused as well; the token of the page signs in.
    bad = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD, "csrf_token": "x" * 40})
    assert bad.status_code == 400
    [form] = _post_forms(text(client.get("/login")))
    ok = client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD, "csrf_token": _csrf(form)})
    assert ok.status_code == 302 and location(ok) == f"/t/{tenant.slug}/"


def test_csrf_is_enforced_on_signed_in_posts(make_app):
    app = make_app()
    tenant = new_tenant(app)
    client = app.test_client()
    [form] = _post_forms(text(client.get("/login")))
    client.post("/login", data={"email": tenant.owner.email, "password": PASSWORD, "csrf_token": _csrf(form)})
    for path in ("/logout", "/account/sessions/end-others", f"/t/{tenant.slug}/members/invite",
                 f"/t/{tenant.slug}/settings/security"):
        assert client.post(path, data={"email": "someone@example.com", "password_min_length": "8"}).status_code == 400
    assert client.get(f"/t/{tenant.slug}/").status_code == 200  # still signed in: logout was refused


def test_every_post_form_carries_a_csrf_token(make_app, frozen):
    app = make_app()  # CSRF on
    tenant = new_tenant(app)
    new_member(app, tenant, "viewer")  # so that the members page has forms for another person
    with in_app(app):
        user = db.session.get(User, tenant.owner.id)
        factories.enable_totp(user)
        owner = who(user)
    anonymous = app.test_client()
    pages = {"login": text(anonymous.get("/login")), "signup": text(anonymous.get("/signup"))}

    client = app.test_client()
    [form] = _post_forms(text(client.get("/login")))
    client.post("/login", data={"email": owner.email, "password": PASSWORD, "csrf_token": _csrf(form)})
    [form] = _post_forms(text(client.get("/login/2fa")))
    code = code_at(owner.secret, STEP0)
    assert client.post("/login/2fa", data={"code": code, "csrf_token": _csrf(form)}).status_code == 302

    pages["account"] = text(client.get("/account"))
    pages["members"] = text(client.get(f"/t/{tenant.slug}/members"))
    pages["security"] = text(client.get(f"/t/{tenant.slug}/settings/security"))
    pages["change-password"] = text(client.get("/account/password"))
    pages["enrol"] = text(client.get("/account/2fa/enrol"))
    # account: sign out, new recovery codes, turn off 2FA, end other sessions;
    # members: sign out, 2 x (role, remove), invite.
    expected_minimum = {"account": 4, "members": 6, "security": 2}
    for name, html in pages.items():
        forms = _post_forms(html)
        assert len(forms) >= expected_minimum.get(name, 1), (name, forms)
        for form in forms:
            token = _csrf(form)
            assert token and len(token) > 20, (name, form)


def test_the_session_serializer_is_made_once_per_set_of_keys(app):
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    old_key = app.secret_key
    app.config["SECRET_KEY"] = "a-new-secret-" + "y" * 40
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    rotated = interface.get_signing_serializer(app)
    assert rotated is not first
    # A cookie signed under the old key still opens under the new key with the old as fallback.
    assert rotated.loads(first.dumps({"n": 1})) == {"n": 1}


# --- rate limits --------------------------------------------------------------------------


@pytest.fixture
def limited(make_app, frozen):
    return make_app(WTF_CSRF_ENABLED=False, TENANTRY_RATELIMIT_LOGIN="3 per minute")


def test_too_many_sign_ins_from_one_address_are_refused(limited):
    tenant = new_tenant(limited)
    client = limited.test_client()
    ip = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(3):
        assert login_password(client, f"guess{n}@example.com", environ_base=ip).status_code == 422

    refused = login_password(client, tenant.owner.email, environ_base=ip)

    assert refused.status_code == 429
    assert count(limited, AuthSession) == 0
    # Another address is not affected.
    assert login_password(limited.test_client(), tenant.owner.email,
                          environ_base={"REMOTE_ADDR": "203.0.113.10"}).status_code == 302


def test_too_many_sign_ins_to_one_account_are_refused_from_any_address(limited, frozen):
    tenant = new_tenant(limited)
    for n in range(3):
        response = login_password(limited.test_client(), tenant.owner.email, "wrong-password-xyz-1",
                                  environ_base={"REMOTE_ADDR": f"203.0.113.{n + 1}"})
        assert response.status_code == 422

    refused = login_password(limited.test_client(), tenant.owner.email,
                             environ_base={"REMOTE_ADDR": "203.0.113.50"})
    assert refused.status_code == 429
    assert count(limited, AuthSession) == 0

    frozen.shift(timedelta(seconds=61))
    assert login_password(limited.test_client(), tenant.owner.email,
                          environ_base={"REMOTE_ADDR": "203.0.113.51"}).status_code == 302


def test_two_factor_codes_are_rate_limited_too(limited):
    tenant = new_tenant(limited)
    with in_app(limited):
        user = db.session.get(User, tenant.owner.id)
        factories.enable_totp(user)
    client = limited.test_client()
    assert location(login_password(client, tenant.owner.email)) == "/login/2fa"
    statuses = [client.post("/login/2fa", data={"code": "000000"}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]


def test_a_viewer_can_still_sign_in_under_the_limit(limited):
    tenant = new_tenant(limited)
    viewer = new_member(limited, tenant, "viewer")
    assert login_password(limited.test_client(), viewer.email).status_code == 302


def test_staff_sign_in_is_rate_limited_too(limited):
    with in_app(limited):
        staff = factories.make_staff(with_totp=False)
        email = staff.email
    client = limited.test_client()
    for _ in range(3):
        assert client.post("/admin/login", data={"email": email, "password": "wrong-one-123"}).status_code == 422
    assert client.post("/admin/login", data={"email": email, "password": PASSWORD}).status_code == 429


def test_signup_is_limited_as_sign_in_and_asks_for_a_valid_password_before_telling_an_e_mail_is_taken(limited):
    tenant = new_tenant(limited)
    client = limited.test_client()
    ip = {"REMOTE_ADDR": "203.0.113.9"}
    probe = {"name": "Probe", "slug": "probe", "country": "CZ", "jurisdiction": "gdpr", "accept": "y",
             "person_name": "P", "email": tenant.owner.email, "password": "short", "confirm": "short"}
    answer = client.post("/signup", data=probe, environ_base=ip)
    assert answer.status_code == 422 and "exists" not in answer.get_data(as_text=True)
    for _ in range(2):
        client.post("/signup", data=probe, environ_base=ip)
    assert client.post("/signup", data=probe, environ_base=ip).status_code == 429
    assert client.get("/signup", environ_base=ip).status_code == 200  # the page itself is not limited


def test_an_empty_or_malformed_sign_in_says_what_to_enter(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    empty = client.post("/login", data={"email": "", "password": ""}).get_data(as_text=True)
    assert "Fill in “E-mail”." in empty and "Fill in “Password”." in empty
    assert "This field is required" not in empty
    bad = client.post("/login", data={"email": "nobody-at-example", "password": "x"}).get_data(as_text=True)
    assert "Enter an e-mail address such as name@example.com." in bad
