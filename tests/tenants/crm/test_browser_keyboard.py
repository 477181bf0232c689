"""A member who uses only the keyboard, in a real browser: skips the navigation, reaches
"New contact", fills the form, gets an error next to its field (announced through ARIA) and
saves. Every element focused on the way shows a focus indicator."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD
from tests.identity.support import new_tenant

# What the focused element is, and whether it shows a ring: an outline or a box shadow.
_FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
  return {tag: el.tagName.toLowerCase(), name: el.getAttribute("name"), text: (el.innerText || "").trim(),
          id: el.id, ring: ring};
}"""


def _tab_to(page, wanted, *, limit: int = 60) -> list[dict]:
    """Tab until `wanted(focused)` holds; returns every element focused on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        seen.append(focused)
        if wanted(focused):
            return seen
    raise AssertionError(f"not reached by Tab: {seen[-5:]}")


@pytest.mark.browser
def test_a_contact_is_created_with_the_keyboard_alone(live_server, browser_page):
    acme = new_tenant(live_server.app, "acme")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server}/login")
    page.get_by_label("E-mail").fill(acme.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/t/acme/**")
    page.goto(f"{live_server}/t/acme/crm/contacts")

    # The first stop is the skip link; it takes focus past the navigation.
    first = _tab_to(page, lambda f: True, limit=1)[0]
    assert first["text"] == "Skip to content" and first["ring"]
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    on_the_way = _tab_to(page, lambda f: f["text"] == "New contact")
    assert not any(f["text"] in ("Dashboard", "Contacts", "Companies") for f in on_the_way), "skip link skipped nothing"
    page.keyboard.press("Enter")
    page.wait_for_url("**/crm/contacts/new")

    on_the_way += _tab_to(page, lambda f: f["name"] == "first_name")
    page.keyboard.type("Jana")
    on_the_way += _tab_to(page, lambda f: f["name"] == "last_name")
    page.keyboard.type("Nováková")
    on_the_way += _tab_to(page, lambda f: f["name"] == "emails")
    page.keyboard.type("jana@")
    on_the_way += _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The error is next to its field and tied to it for a screen reader.
    emails = page.locator("[name=emails]")
    assert emails.get_attribute("aria-invalid") == "true"
    described = emails.get_attribute("aria-describedby").split()
    messages = " ".join(page.locator(f"#{ref}").inner_text() for ref in described)
    assert "jana@" in messages and "e-mail" in messages.lower()

    emails.focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("jana@example.com")
    on_the_way += _tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Save")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(lambda url: not url.endswith("/new"))
    assert page.get_by_role("heading", level=1).inner_text() == "Jana Nováková"

    without_ring = [f for f in on_the_way if not f["ring"]]
    assert without_ring == [], without_ring
