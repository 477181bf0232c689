"""The CRM lists on a phone (app.css, table.data.cards): each row reads as a card, its title on
top and every other filled cell after its column's name, with nothing to scroll sideways; the
table is still a table to screen readers. On a laptop the same markup is a plain table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tenantry.platform.db import db
from tenantry.platform.tenancy import Tenant, tenant_context
from tenantry.tenants.crm import activities, companies, contacts, deals, stages
from tests.identity.support import browser_sign_in, in_app, new_tenant

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def _seed(app, tenant) -> None:
    """Long names and addresses (they would push a table sideways), a contact without a phone
    or a position (empty cells), and deals with and without their links."""
    with in_app(app), tenant_context(db.session.get(Tenant, tenant.id)):
        stage = stages.ensure_defaults()[0].id
        firm = companies.create(companies.CompanyData(name="Moravská strojírna a slévárna, akciová společnost",
                                                      country="CZ", company_number="46900039"))
        db.session.flush()
        people = [contacts.create(contacts.ContactData(
            first_name=first, last_name=last, emails=[email], phones=phones, position=position, tags=tags,
            company_id=firm.id)) for first, last, email, phones, position, tags in (
            ("Alžběta", "Procházková-Kučerová", "alzbeta.prochazkova-kucerova@moravska-strojirna.example",
             ["+420603111222"], "Vedoucí nákupu a logistiky", ["partner", "newsletter"]),
            ("Eva", "Černá", "eva@example.com", [], "", []))]
        db.session.flush()
        for title, contact in (("Modernizace osvětlení výrobní haly, druhá etapa", people[0]), ("Okna", None)):
            deal = deals.create(deals.DealData(title=title, value=Decimal("187300"), currency="CZK", stage_id=stage,
                                               expected_close=date(2030, 1, 31), company_id=firm.id,
                                               contact_id=contact.id if contact else None))
        activities.create("deal", deal.id, activities.ActivityData(kind="call", note="Zavolat kvůli nabídce"))


_LAYOUT = """() => {
  const page = document.scrollingElement, wrap = document.querySelector('.table-wrap');
  const table = wrap.querySelector('table'), head = table.querySelector('thead').getBoundingClientRect();
  const rows = [...table.querySelectorAll('tbody tr')].map(tr => {
    const box = tr.getBoundingClientRect();
    return [...tr.cells].map(td => {
      const r = td.getBoundingClientRect(), text = document.createRange();
      text.selectNodeContents(td);
      const t = text.getBoundingClientRect(), before = getComputedStyle(td, '::before');
      return {label: td.dataset.label || null, text: td.textContent.trim(), title: td.classList.contains('card-title'),
              tick: td.classList.contains('tick'),
              empty: !td.textContent.trim(), display: getComputedStyle(td).display,
              before: before.content, beforeDisplay: before.display,
              left: r.left - box.left, top: r.top - box.top, right: box.right - r.right,
              width: r.width, height: r.height, textLeft: t.left - r.left};
    });
  });
  return {page: [page.scrollWidth, page.clientWidth], wrap: [wrap.scrollWidth, wrap.clientWidth],
          head: [head.width, head.height], headers: [...table.querySelectorAll('thead th')].map(th => th.textContent),
          rowDisplay: getComputedStyle(table.querySelector('tbody tr')).display, rows};
}"""


def _ax_rows(page) -> tuple[list[str], list[list[str]]]:
    """The column headers and each row's cells (their names) of the page's table, as Chromium's
    own accessibility tree has them."""
    cdp = page.context.new_cdp_session(page)
    nodes = {n["nodeId"]: n for n in cdp.send("Accessibility.getFullAXTree")["nodes"]}
    cdp.detach()

    def role(node):
        return node.get("role", {}).get("value")

    def name(node):
        return node.get("name", {}).get("value", "")

    def kids(node, wanted):
        found = []
        for child in node.get("childIds", []):
            child = nodes.get(child)
            if child is None:
                continue
            if role(child) in wanted:
                found.append(child)
            elif role(child) not in ("table", "row", "cell", "columnheader"):
                found += kids(child, wanted)  # row groups and ignored wrappers
        return found

    tables = [n for n in nodes.values() if role(n) == "table" and not n.get("ignored")]
    assert len(tables) == 1
    rows = kids(tables[0], {"row"})
    headers = [name(c) for c in kids(rows[0], {"columnheader"})]
    return headers, [[name(c) for c in kids(row, {"cell"})] for row in rows[1:]]


def _check_phone(page, url: str, columns: list[str]) -> list[list[dict]]:
    page.set_viewport_size(PHONE)
    page.goto(url)
    layout = page.evaluate(_LAYOUT)
    assert layout["page"][0] <= layout["page"][1], layout["page"]  # the page does not scroll sideways
    assert layout["wrap"][0] <= layout["wrap"][1], layout["wrap"]  # nor does the table in its wrapper
    assert layout["headers"] == columns
    assert layout["head"][0] <= 1 and layout["head"][1] <= 1  # the header is out of sight...
    headers, cells = _ax_rows(page)
    assert [h.casefold() for h in headers] == [c.casefold() for c in columns]  # ...but not out of the table
    assert cells and all(len(row) == len(columns) for row in cells), cells  # empty cells keep their column
    assert layout["rowDisplay"] == "flex"
    for row, ax_row in zip(layout["rows"], cells, strict=True):
        title = [c for c in row if c["title"]]
        assert len(title) == 1 and title[0]["before"] == "none"
        ticks = [c for c in row if c["tick"]]  # the box to tick the record: left of its title, on its line
        assert len(ticks) <= 1 and all(t["left"] < title[0]["left"] and t["top"] < title[0]["top"] + title[0]["height"]
                                       and title[0]["top"] < t["top"] + t["height"] for t in ticks), (ticks, title)
        assert all(title[0]["top"] < c["top"] for c in row if not c["title"] and not c["tick"] and not c["empty"])  # on top
        for cell, spoken in zip(row, ax_row, strict=True):
            assert cell["right"] >= 0 and cell["left"] >= 0  # within its card
            if cell["title"] or cell["tick"]:
                continue
            assert cell["label"] in columns
            assert not spoken.startswith(cell["label"])  # screen readers hear the header, not the label twice
            if cell["empty"]:  # no label hanging over nothing
                assert cell["width"] <= 1 and cell["height"] <= 1, cell
            else:  # the label is shown, and the value stands to its right
                assert cell["display"] == "table" and cell["beforeDisplay"] == "table-cell"
                assert cell["before"].startswith(f'"{cell["label"]}"'), cell
                assert cell["textLeft"] >= 90, cell
    return layout["rows"]


def _check_laptop(page, url: str, columns: list[str]) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(url)
    layout = page.evaluate(_LAYOUT)
    assert layout["page"][0] <= layout["page"][1]
    assert layout["headers"] == columns and layout["head"][0] > 600 and layout["head"][1] >= 30
    assert layout["rowDisplay"] == "table-row"
    heads = page.locator("table.data thead th")
    for row in layout["rows"]:
        assert [c["display"] for c in row] == ["table-cell"] * len(columns)
        assert all(c["before"] == "none" for c in row)  # no labels: the header says it
    for i in range(len(columns)):  # each cell under its column's header
        head, cell = heads.nth(i).bounding_box(), page.locator("table.data tbody tr").first.locator("td").nth(i)
        assert abs(head["x"] - cell.bounding_box()["x"]) < 1 and head["width"] == pytest.approx(
            cell.bounding_box()["width"], abs=1)


@pytest.fixture
def page(live_server, browser_page):
    """The browser of the owner of a workspace with the lists above, signed in."""
    acme = new_tenant(live_server.app, "acme", country="CZ")
    _seed(live_server.app, acme)
    browser_sign_in(browser_page, str(live_server), acme.owner.email, then=f"{live_server}/t/acme/**")
    return browser_page


@pytest.mark.browser
def test_lists_are_cards_on_a_phone_and_tables_on_a_laptop(live_server, page):
    contact_columns = ["Ticked", "Name", "E-mail", "Phone", "Company", "Position", "Tags"]
    deal_columns = ["Ticked", "Title", "Value", "Stage", "Expected close", "Next activity", "Contact", "Company"]
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        rows = _check_phone(page, f"{live_server}/t/acme/crm/contacts", contact_columns)
        eva = next(row for row in rows if row[1]["text"] == "Eva Černá")
        assert [c["label"] for c in eva if c["empty"] and not c["tick"]] == ["Phone", "Position", "Tags"]
        assert not any(c["empty"] and not c["tick"] for row in rows if row is not eva for c in row)
        rows = _check_phone(page, f"{live_server}/t/acme/crm/deals", deal_columns)
        okna = next(row for row in rows if row[1]["text"] == "Okna")
        assert okna[6]["text"] == "—" and not okna[6]["empty"]  # "no contact" is said, not left out
        _check_laptop(page, f"{live_server}/t/acme/crm/contacts", contact_columns)
        _check_laptop(page, f"{live_server}/t/acme/crm/deals", deal_columns)


@pytest.mark.browser
def test_a_cards_title_and_buttons_are_big_enough_to_tap_and_reached_by_tab(live_server, page):
    rows = _check_phone(page, f"{live_server}/t/acme/crm/activities",
                        ["Ticked", "Due", "Kind", "About", "Note", "Assigned to", "State"])
    assert rows[0][0]["tick"] and rows[0][3]["title"] and rows[0][3]["text"].startswith("Okna")  # "About" heads the card
    card = page.locator("table.data tbody tr").first
    title, edit, done = (card.locator("td.card-title a"), card.get_by_role("link", name="Edit"),
                         card.get_by_role("button", name="Mark done"))
    for target in (title, edit, done):
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    assert title.bounding_box()["y"] < edit.bounding_box()["y"]  # the title heads the card
    title.focus()
    page.keyboard.press("Tab")
    assert edit.evaluate("e => e === document.activeElement")
    page.keyboard.press("Tab")
    assert done.evaluate("e => e === document.activeElement")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_text("Activity marked as done.").is_visible()
