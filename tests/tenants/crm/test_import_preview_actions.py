"""The import preview's choices: with rows in error, importing the valid ones is the one to
take (primary, first); importing all stays in sight but disabled, its reason beside it, drawn
as a secondary button (app.css: a disabled primary is not the loudest); discarding the
upload is not the way forward, so it is not the loudest button either."""

from __future__ import annotations

import re

from tests.tenants.crm.test_csv_import import member, person, preview  # noqa: F401 (fixtures)


def _buttons(page: str) -> list[tuple[str, str, bool]]:
    """Each button of the preview's choices: its text, its kind, whether it is disabled."""
    actions = page[page.index('<div class="row import-actions">'):]
    actions = actions[:actions.index("</div>")]
    return [(re.sub(r"<[^>]+>", "", inner).strip(), kind, "disabled" in attrs)
            for kind, attrs, inner in re.findall(r'<button type="submit" class="btn btn-(\w+)"([^>]*)>(.*?)</button>',
                                                 actions, re.S)]


def test_with_rows_in_error_importing_the_valid_ones_leads(web_app, member):  # noqa: F811
    data = "First name,Surname,E-mails\nJana,Nováková,jana@example.com\nPetr,Novák,petr@example.com\nBad,Mail,nope\n"
    _path, page = preview(member, data.encode())
    # First and primary, the choice that works; then "all", disabled (drawn as a secondary button).
    assert _buttons(page) == [("Import only the 2 valid rows", "primary", False),
                              ("Import all 3 rows", "primary", True),
                              ("Discard the upload", "secondary", False)]
    assert 'aria-describedby="all-hint"' in page and "needs every row to be valid" in page


def test_with_every_row_valid_importing_all_leads(web_app, member):  # noqa: F811
    data = "First name,Surname,E-mails\nJana,Nováková,jana@example.com\nPetr,Novák,petr@example.com\n"
    _path, page = preview(member, data.encode())
    assert _buttons(page) == [("Import all 2 rows", "primary", False), ("Discard the upload", "secondary", False)]
