"""An admin creates an API client in a real browser, copies the secret shown once, and the
integration gets a token with it."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.identity.support import browser_sign_in, new_tenant


@pytest.mark.browser
def test_an_admin_creates_a_client_in_the_browser_and_its_secret_works(live_server, browser_page):
    acme = new_tenant(live_server.app, "acme")
    page = browser_page
    browser_sign_in(page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    page.get_by_role("link", name="API clients").click()
    page.get_by_label("Name").fill("Invoicing sync")
    page.get_by_label("crm:read").check()
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_role("heading", name="“Invoicing sync” is ready")).to_be_visible()
    client_id = page.locator('code[data-copy-label="client ID"]').inner_text().strip()
    secret = page.locator('code[data-copy-label="client secret"]').inner_text().strip()
    expect(page.get_by_role("button", name="Copy client secret")).to_be_visible()  # app.js adds it: wait for it

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(f"{live_server}/oauth/token", data=b"grant_type=client_credentials",
                                     headers={"Authorization": f"Basic {basic}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())
    assert token["token_type"] == "Bearer" and token["scope"] == "crm:read"

    page.goto(f"{live_server}/t/acme/settings/api-clients")
    assert secret not in page.content() and client_id in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"{live_server}/t/acme/settings/api-clients")
    assert page.get_by_text("revoked", exact=False).first.is_visible()
