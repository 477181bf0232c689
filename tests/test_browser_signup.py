"""The first thing a customer does, in a real browser: sign up, enrol TOTP, sign out, sign in."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

PASSWORD = "amber-lantern-orbit-73"


@pytest.mark.browser
@pytest.mark.obligation("DPA-2.8", "DPA-B.2fa")
def test_sign_up_enrol_totp_and_sign_in_again(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server}/signup")

    page.get_by_label("Workspace name").fill("Nováková & syn")
    page.get_by_label("Web address").fill("novakova")
    page.get_by_label("Country").select_option("CZ")
    page.get_by_label("Data protection law").select_option("gdpr")
    page.get_by_label("Your name").fill("Jana Nováková")
    page.get_by_label("Your work e-mail").fill("jana@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    assert page.get_by_role("region", name="Data processing agreement text").is_visible()
    page.get_by_label("I accept the data processing agreement").check()
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(f"{live_server}/t/novakova/")
    assert page.get_by_role("heading", name="Nováková & syn", level=1).is_visible()

    page.goto(f"{live_server}/account")
    page.get_by_role("link", name="Set up two-factor").click()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert page.get_by_role("img", name="QR code").get_attribute("src").startswith("data:image/svg+xml")
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and turn on").click()
    # The codes page is the POST's own answer: wait for it rather than read the page being left.
    expect(page.locator(".codes li")).to_have_count(10)
    page.get_by_role("link", name="I have stored them, continue").click()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/login")

    page.get_by_label("E-mail").fill("jana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/login/2fa")
    # A fresh code: the next time step, which the ±1 window accepts and no earlier use matches.
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server}/t/novakova/")
    assert page.get_by_role("heading", name="Nováková & syn", level=1).is_visible()
    assert page.get_by_text("You are").is_visible()
