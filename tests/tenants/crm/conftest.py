"""The CRM tests' workspace (acme, in CZ) and its people signed in to the web UI."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from tenantry.platform.audit import AuditEvent
from tenantry.platform.db import db
from tenantry.platform.tenancy import all_tenants
from tests.identity.support import browser_sign_in, in_app, login_password, new_member, new_tenant, text


@pytest.fixture
def acme(web_app):
    return new_tenant(web_app, "acme", country="CZ")


def signed_in(web_app, tenant, role: str):
    """A test client of a new `role` member of `tenant`, signed in with a password."""
    person = new_member(web_app, tenant, role)
    client = web_app.test_client()
    assert login_password(client, person.email).status_code == 302
    return client


@pytest.fixture
def member(web_app, acme):
    return signed_in(web_app, acme, "member")


@pytest.fixture
def admin(web_app, acme):
    return signed_in(web_app, acme, "admin")


def listed_reads(app, tenant_id) -> dict[str, dict]:
    """The details of each crm.<entity>.listed event of the tenant, by action."""
    with in_app(app, commit=False), all_tenants():
        events = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action.like("crm.%.listed"))).all()
        return {e.action: e.details for e in events}


def acme_in_a_browser(live_server, page, seed, path: str, *, width: int, height: int):
    """The acme workspace (CZ) seeded by seed(app, tenant), its owner signed in at `path` in a
    real browser of that size; what `seed` returned."""
    acme = new_tenant(live_server.app, "acme", country="CZ")
    seeded = seed(live_server.app, acme)
    page.set_viewport_size({"width": width, "height": height})
    browser_sign_in(page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    page.goto(f"{live_server}/t/acme{path}")
    return seeded


class SentForm(HTMLParser):
    """The values a browser would send from the page's edit form (the one with a version)."""

    def __init__(self, html: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea = self._select = None
        self.feed(html[html.index('<form method="post" novalidate class="stack"'):])

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("checkbox", "radio", "submit"):
            self.values.setdefault(a["name"], a.get("value") or "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
            self.values.setdefault(a["name"], "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "textarea":  # a browser drops the newline that starts a textarea's content
            value = self.values[self._textarea]
            self.values[self._textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def opened_form(client, path: str) -> dict[str, str]:
    """The values of the edit form at `path`, as the browser would send them back."""
    page = client.get(path)
    assert page.status_code == 200
    return SentForm(text(page)).values


def listed_deals(html: str) -> list[str]:
    """The titles in the deal list's table, in its order (none when it shows no table)."""
    body = html[html.index("<tbody"):html.index("</tbody>")] if "<tbody" in html else ""
    return re.findall(r'<a href="/t/acme/crm/deals/[0-9a-f-]{36}">([^<]+)</a>', body)


def deals_listed_by(page) -> list[str]:
    """The titles a deal list response shows, sorted; the response must be a page (200)."""
    assert page.status_code == 200
    return sorted(listed_deals(text(page)))
