"""The CRM tests' workspace (acme, in CZ) and its people signed in to the web UI."""

from __future__ import annotations

import pytest

from tests.identity.support import login_password, new_member, new_tenant


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
